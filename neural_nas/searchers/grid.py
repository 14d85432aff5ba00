"""Grid search: the Cartesian product in sorted-key order, first key slowest."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from neural_nas.searchers._base import Searcher, searcher_registry


@searcher_registry("grid")
class GridSearcher(Searcher):
    def _next(self, visited: set[tuple[int, ...]]) -> tuple[int, ...] | None:
        if not hasattr(self, "_grid"):
            self._grid: Iterator[tuple[int, ...]] = itertools.product(*(range(len(c)) for c in self.space.choices))
        for indices in self._grid:
            if indices not in visited:
                return indices
        return None

    def get_params(self) -> dict:
        return {}
