"""The parity check of every export: the file, run as its user runs it, against the module it was written from.

Inputs: the graph's own trace inputs and ``SAMPLES`` more from ``graph.samples`` (other batch sizes and lengths,
seeded). The largest absolute difference of any output must stay within ``TOLERANCE`` times the outputs' scale (the
largest finite absolute reference value, at least 1), and NaN or infinities must sit where the module's are: float
kernels of other runtimes fuse and reorder operations, which moves the last bits, never more. A graph of int8
arithmetic declares a looser bound (`Graph.tolerance`). The figures go into the model card; a larger difference is an
`ExportError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neural_nas.errors import ExportError
from neural_nas.export.formats import ExportFormat, as_numpy
from neural_nas.supernets.graphs import Graph

SAMPLES = 8
TOLERANCE = 1e-3


@dataclass(frozen=True)
class Parity:
    """How closely one file reproduces its module: over ``inputs`` inputs, the largest absolute output difference."""

    max_abs_diff: float
    tolerance: float
    inputs: int

    def as_record(self) -> dict[str, Any]:
        return {"max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance, "inputs": self.inputs}


def check_parity(graph: Graph, fmt: ExportFormat, path: Path, seed: int = 0) -> Parity:
    """Run ``path`` (``fmt``) and ``graph.module`` on the same inputs; an ExportError if they differ by more than
    the tolerance."""
    import torch

    run = fmt.run(path)
    rng = np.random.default_rng(seed)
    inputs = [graph.inputs] + [graph.samples(rng) for _ in range(SAMPLES)]
    worst, scale = 0.0, 1.0
    for number, args in enumerate(inputs):
        with torch.no_grad():
            expected = as_numpy(graph.module(*args))
        got = run(*args)
        if len(got) != len(expected) or any(g.shape != e.shape for g, e in zip(got, expected)):
            raise ExportError(
                path,
                f"gives outputs of shapes {[g.shape for g in got]} where the sub-network gives "
                f"{[e.shape for e in expected]} (input {number})",
            )
        for g, e in zip(got, expected):
            g, e = g.astype(np.float64), e.astype(np.float64)
            finite = np.isfinite(e)
            if not np.array_equal(np.isfinite(g), finite) or not np.array_equal(g[~finite], e[~finite]):
                raise ExportError(path, f"gives NaN or infinities where the sub-network does not (input {number})")
            if finite.any():
                worst = max(worst, float(np.max(np.abs(g[finite] - e[finite]))))
                scale = max(scale, float(np.max(np.abs(e[finite]))))
    parity = Parity(worst, (TOLERANCE if graph.tolerance is None else graph.tolerance) * scale, len(inputs))
    if worst > parity.tolerance:
        raise ExportError(
            path,
            f"differs from the extracted sub-network by up to {worst:.3g} (tolerance {parity.tolerance:.3g}) on "
            f"{len(inputs)} inputs",
        )
    return parity
