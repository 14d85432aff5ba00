"""What an exported sub-network is made of: one or more `Graph`s, each a module with named inputs and outputs.

A super-network says how its sub-networks leave the library (`SuperNetwork.export_graphs`): most are one graph
(``subnet``: images in, logits out); a translation model is two (an encoder and one decoding step with its cache), as
a runtime calls them. `neural_nas.export` writes each graph in each format and checks the files against the module.

A graph declares, never leaves to be guessed:
- ``inputs``: what it is traced on (a batch of 2 or more: a batch of one would be fixed into the graph);
- ``dynamic``: the axes that vary at run time (batch, sequence length), by input name, and the ``bounds`` of those
  that have any (a sequence no longer than the position table);
- ``samples(rng)``: another valid input of other sizes, for the parity check (tokens within the vocabulary, masks of
  real sentences, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Tensors = tuple[Any, ...]  # torch tensors (torch is imported only where a graph is built)


@dataclass(frozen=True)
class Graph:
    """One exported computation of a sub-network (the module docstring)."""

    name: str
    module: Any  # torch.nn.Module, in eval mode
    inputs: Tensors
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    samples: Callable[[np.random.Generator], Tensors]
    dynamic: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    bounds: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # an axis name's smallest and largest size
    # The parity check's bound on the difference of a file's outputs, relative to their scale; None: float arithmetic's
    # (`neural_nas.export.parity`). An int8 graph sets its own: runtimes round activations to int8 steps differently.
    tolerance: float | None = None
    # PyTorch modules that register operators the graph uses beyond torch's core ones: a torch runtime imports them
    # before `torch.export.load` (the model card lists them). Never this library: its files run without it.
    torch_imports: tuple[str, ...] = ()

    def contract(self) -> dict[str, Any]:
        """The graph's inputs and outputs as the model card records them: names, dtypes, shapes with named axes (and
        the modules to import before loading its torch.export file, if any)."""

        def shape(name: str, tensor: Any) -> list[Any]:
            axes = self.dynamic.get(name, {})
            return [axes.get(i, int(n)) for i, n in enumerate(tensor.shape)]

        contract: dict[str, Any] = {
            "inputs": [
                {"name": n, "dtype": str(t.dtype).removeprefix("torch."), "shape": shape(n, t)}
                for n, t in zip(self.input_names, self.inputs)
            ],
            "outputs": list(self.output_names),
        }
        if self.torch_imports:
            contract["torch_imports"] = list(self.torch_imports)
        return contract


def batched(examples: Sequence[Any], size: int = 2) -> Tensors:
    """``examples`` (a batch of one each) repeated to a batch of ``size``, to trace on."""
    return tuple(t.expand(size, *t.shape[1:]).clone() for t in examples)


def like(examples: Sequence[Any], rng: np.random.Generator, batch: int) -> Tensors:
    """Random tensors shaped as ``examples`` with batch ``batch``: normal floats, integers up to the examples' largest
    (0 or 1 when they hold none larger), booleans."""
    import torch

    out = []
    for t in examples:
        shape = (batch, *t.shape[1:])
        if t.dtype.is_floating_point:
            out.append(torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).to(t.dtype))
        elif t.dtype == torch.bool:
            out.append(torch.from_numpy(rng.random(shape) < 0.5))
        else:
            high = max(int(t.max()), 1) + 1
            out.append(torch.from_numpy(rng.integers(0, high, shape)).to(t.dtype))
    return tuple(out)


def batch_graph(
    module: Any,
    examples: Sequence[Any],
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] = ("logits",),
    name: str = "subnet",
) -> Graph:
    """The usual sub-network: ``module(*examples)``, every input with a dynamic batch axis (0)."""
    names = tuple(input_names or (f"input_{i}" for i in range(len(examples))))
    return Graph(
        name=name,
        module=module,
        inputs=batched(examples),
        input_names=names,
        output_names=tuple(output_names),
        samples=lambda rng: like(examples, rng, int(rng.integers(1, 5))),
        dynamic={n: {0: "batch"} for n in names},
    )
