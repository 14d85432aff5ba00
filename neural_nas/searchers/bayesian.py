"""Bayesian optimisation: a Gaussian-process surrogate (Matern, nu=2.5) with an upper-confidence-bound acquisition."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neural_nas.searchers._base import Searcher, searcher_registry
from neural_nas.searchers.random import random_unvisited

# Spaces up to this size are scored exhaustively; larger ones on a fresh random sample of this many candidates.
_MAX_CANDIDATES = 4096


@searcher_registry("bo", aliases=("bayesian",))
class BayesianSearcher(Searcher):
    """Random proposals until two distinct scores exist, then the unvisited candidate maximising mean + kappa * std."""

    def __init__(
        self, search_space: Mapping[str, Sequence[Any]], seed: int | None = 42, *, kappa: float = 2.576
    ) -> None:
        super().__init__(search_space, seed)
        self.kappa = kappa

    def get_params(self) -> dict[str, Any]:
        return {"seed": self.seed, "kappa": self.kappa}

    def _next(self, visited: set[tuple[int, ...]]) -> tuple[int, ...] | None:
        scores = [s for _, s in self.history]
        if len(set(scores)) < 2:
            return random_unvisited(self.space, visited, self.rng)
        candidates = self._candidates(visited)
        if len(candidates) == 0:
            return None
        mean, std = self._posterior(candidates)
        return tuple(int(i) for i in candidates[int(np.argmax(mean + self.kappa * std))])

    def _candidates(self, visited: set[tuple[int, ...]]) -> np.ndarray:
        sizes = [len(c) for c in self.space.choices]
        if self.space.size <= _MAX_CANDIDATES:
            pool = [i for i in itertools.product(*(range(n) for n in sizes)) if i not in visited]
        else:
            drawn = {
                tuple(int(v) for v in row) for row in self.rng.integers(0, sizes, size=(_MAX_CANDIDATES, len(sizes)))
            }
            pool = sorted(drawn - visited)
        return np.array(pool, dtype=float).reshape(-1, len(sizes))

    def _scale(self, indices: np.ndarray) -> np.ndarray:
        # Choice indices mapped to [0, 1] per parameter so one length scale fits all.
        spans = np.array([max(len(c) - 1, 1) for c in self.space.choices], dtype=float)
        return indices / spans

    def _posterior(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import Matern

        x = self._scale(np.array([idx for idx, _ in self.history], dtype=float))
        y = np.array([s for _, s in self.history], dtype=float)
        gp = GaussianProcessRegressor(
            kernel=Matern(nu=2.5),
            alpha=1e-6,
            normalize_y=True,
            n_restarts_optimizer=5,
            random_state=int(self.rng.integers(2**31 - 1)),
        )
        with warnings.catch_warnings():
            # Hyper-parameter bounds are often hit on a handful of points; the fit is still usable.
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x, y)
        mean, std = gp.predict(self._scale(candidates), return_std=True)
        return mean, std
