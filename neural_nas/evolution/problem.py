"""The pymoo problem Dynamic NAS optimises: choice-index vectors in, objectives (all minimised) out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pymoo.core.problem import Problem

from neural_nas.pareto import minimised

# One objective: a whole population of index vectors (rows) -> one value per row, higher or lower is better.
ObjectiveFn = Callable[[np.ndarray], np.ndarray]


# What a row that misses a constraint scores, per objective, before its distance from the constraints is added: above
# any objective value a search meets, and fixed, so that rows evaluated in different calls (parents, offspring)
# compare as they should.
PENALTY = 1e100


def penalised(values: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """Minimised ``values`` where every row that misses the constraints (``violation`` > 0, or not finite) scores
    `PENALTY` times one plus its violation in every objective: worse than every row that meets them, and the worse the
    further it misses, so that any algorithm (pymoo's, ours) keeps to the feasible rows and is led back to them."""
    violation = np.where(np.isfinite(violation), violation, np.inf)
    bad = violation > 0
    if not bad.any():
        return values
    values = np.array(values, dtype=float)
    values[bad] = PENALTY * (1.0 + np.minimum(violation[bad], 1e100))[:, None]
    return values


class SubnetProblem(Problem):
    """Vectorised over the population: each objective function is called once per generation.

    Signs are flipped so that every objective is minimised (pymoo's convention: `neural_nas.pareto.minimised`);
    real-valued proposals (CMA-ES) are rounded and clipped to valid choice indices. ``violation``: per vector, how far
    it misses the search's constraints (0: it meets them); rows that miss are `penalised`.
    """

    def __init__(
        self,
        cardinalities: np.ndarray,
        objectives: Sequence[ObjectiveFn],
        higher_is_better: Sequence[bool],
        violation: ObjectiveFn | None = None,
    ) -> None:
        self.objectives = list(objectives)
        self.higher_is_better = [bool(h) for h in higher_is_better]
        self.violation = violation
        super().__init__(
            n_var=len(cardinalities), n_obj=len(self.objectives), xl=0, xu=np.asarray(cardinalities) - 1, vtype=int
        )

    def as_indices(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(np.atleast_2d(x)), self.xl, self.xu).astype(np.int64)

    def minimised(self, vectors: np.ndarray) -> np.ndarray:
        """Objective values (rows: vectors, columns: objectives) with signs flipped so that all are minimised."""
        vectors = self.as_indices(vectors)
        values = np.column_stack([np.asarray(f(vectors), dtype=float) for f in self.objectives])
        values = minimised(values, self.higher_is_better)
        if self.violation is not None:
            values = penalised(values, np.asarray(self.violation(vectors), dtype=float))
        return values

    def _evaluate(self, x: np.ndarray, out: dict, *args, **kwargs) -> None:
        out["F"] = self.minimised(x)
