"""Drop-in for the reference's module ``neural_compressor.experimental.nas.nas_utils``, on the library's own code.

- `find_pareto_front(metrics)`: indices of the non-dominated rows of an (n_points, n_metrics) array, every metric
  higher-is-better, in their order (of identical rows the first); a numpy integer array, as the reference returned.
- `create_search_space_pool(search_space, idx=0)`: every architecture as a list of values in sorted-key order, first
  key slowest (the grid searcher's order), from the ``idx``-th key on.
- `nas_registry` and `NASMethods`: the approach registry and a read-only ``{name: class}`` view of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from neural_nas.nas.base import nas_registry
from neural_nas.pareto import pareto_front


def find_pareto_front(metrics: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    return np.asarray(pareto_front(np.asarray(metrics, dtype=float)), dtype=np.int64)


def create_search_space_pool(search_space: Mapping[str, Sequence[Any]], idx: int = 0) -> list[list[Any]]:
    keys = sorted(search_space)[idx:]
    return [list(values) for values in itertools.product(*(search_space[k] for k in keys))]


class _Approaches(Mapping[str, type]):
    """``NASMethods``: registered approach names (lower case) -> classes, always current."""

    def __getitem__(self, name: str) -> type:
        if name not in nas_registry:
            raise KeyError(name)
        return nas_registry.get(name)

    def __iter__(self) -> Iterator[str]:
        import neural_nas.approaches  # noqa: F401 - the built-ins are registered on import

        return iter(nas_registry.names())

    def __len__(self) -> int:
        return len(list(iter(self)))


NASMethods = _Approaches()

__all__ = ["NASMethods", "create_search_space_pool", "find_pareto_front", "nas_registry"]
