"""The search-algorithm contract for Basic NAS, and the registry users add their own searchers to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neural_nas._registry import Registry
from neural_nas._rng import as_generator
from neural_nas.config.search_space import SearchSpace

searcher_registry: Registry[type] = Registry("search algorithm", "nas.search.search_algorithm")


class Searcher:
    """Base class of the Basic NAS search algorithms.

    Timeline of one trial: the search loop calls `suggest()` for an architecture, builds and measures it, then calls
    `get_feedback(score)` with that architecture's score (the sum of its sign-adjusted metrics, higher is better)
    before the next `suggest()`. `suggest()` returns None when it has nothing new to propose.

    On resume the loop does not replay anything special: architectures measured earlier are simply answered with their
    recorded score when proposed again, without spending a trial. A searcher built from the registry is constructed as
    ``cls(search_space, seed=seed)``; any object with `suggest()` and `get_feedback(score)` can also be installed with
    ``agent.search_algorithm = obj``.

    Subclasses implement `_next(visited)`; they own their RNG (``self.rng``) and never touch the global random states.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = 42) -> None:
        self.space = search_space if isinstance(search_space, SearchSpace) else SearchSpace(search_space)
        self.seed = seed
        self.rng = as_generator(seed)
        self.history: list[tuple[tuple[int, ...], float]] = []  # (choice indices, score), in feedback order
        self._proposed: set[tuple[int, ...]] = set()
        self._last: tuple[int, ...] | None = None

    def suggest(self) -> dict[str, Any] | None:
        indices = self._next(self._proposed)
        if indices is None:
            return None
        self._last = tuple(int(i) for i in indices)
        self._proposed.add(self._last)
        return self.space.arch(self._last)

    def get_feedback(self, score: float) -> None:
        if self._last is None:
            raise RuntimeError("get_feedback() called before suggest()")
        self.history.append((self._last, float(score)))
        self._last = None

    def _next(self, visited: set[tuple[int, ...]]) -> tuple[int, ...] | None:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
