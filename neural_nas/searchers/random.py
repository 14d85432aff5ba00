"""Random search: uniform over the architectures not yet proposed, from the searcher's own RNG."""

from __future__ import annotations

import itertools

import numpy as np

from neural_nas.config.search_space import SearchSpace
from neural_nas.searchers._base import Searcher, searcher_registry

# Below this many architectures, the unvisited ones are listed and one is drawn; above it, rejection sampling.
_ENUMERATE_LIMIT = 200_000


def random_unvisited(
    space: SearchSpace,
    visited: set[tuple[int, ...]],
    rng: np.random.Generator,
) -> tuple[int, ...] | None:
    """One uniformly random architecture (as choice indices) outside ``visited``; None when all are visited."""
    if len(visited) >= space.size:
        return None
    sizes = [len(c) for c in space.choices]
    # Rejection sampling is cheap while most of the space is unvisited.
    if space.size > _ENUMERATE_LIMIT or len(visited) < space.size // 2:
        for _ in range(64):
            indices = tuple(int(i) for i in rng.integers(0, sizes))
            if indices not in visited:
                return indices
        if space.size > _ENUMERATE_LIMIT:
            raise RuntimeError("could not draw an unvisited architecture in 64 tries from a very large space")
    remaining = [i for i in itertools.product(*(range(n) for n in sizes)) if i not in visited]
    return remaining[int(rng.integers(len(remaining)))]


@searcher_registry("random")
class RandomSearcher(Searcher):
    def _next(self, visited: set[tuple[int, ...]]) -> tuple[int, ...] | None:
        return random_unvisited(self.space, visited, self.rng)
