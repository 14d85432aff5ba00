"""Pareto logic for the whole package: directions, dominance, fronts, NSGA-II survival and hypervolume.

Points are rows of an (n, m) array, one column per metric. Internally every objective is *minimised* (pymoo's
convention): `dominates`, `non_dominated_ranks`, `crowding_distance`, `survivors`, `spread_best` and `best_first` take
minimised objectives. Functions on measured metrics (`pareto_front`, `default_ref_point`, `HypervolumeTracker`) take
values in the metrics' own units with ``higher_is_better`` (one bool per metric; None: all higher-is-better) and
convert them with `minimised`. `sign_adjust` turns metrics the other way, all higher-is-better: what the summed score
and the knee of a front are computed on.

Results keep the input's order: `pareto_front` gives ascending indices and keeps only the first of identical points,
a whole NSGA-II front keeps its rows' order, and every sort is stable. The benchmarks depend on these orders.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Points = Sequence[Sequence[float]] | np.ndarray  # rows of metric values: nested lists or an (n, m) array

# The default hypervolume reference point lies this share of each metric's range beyond its worst value.
REF_MARGIN = 0.1


# -- directions -----------------------------------------------------------------------------------------------------
def _as_points(points: Points) -> np.ndarray:
    """An (n, m) float array; a 1-D input is n points of one metric."""
    arr = np.asarray(points, dtype=float)
    return arr[:, None] if arr.ndim == 1 else arr


def _higher(higher_is_better: Sequence[bool] | None, arr: np.ndarray) -> np.ndarray:
    """One bool per column of ``arr`` (None: all True); a count that does not fit is a ValueError."""
    if higher_is_better is None:
        return np.ones(arr.shape[1], dtype=bool)
    if len(higher_is_better) != arr.shape[1]:
        raise ValueError(f"higher_is_better has {len(higher_is_better)} entries for {arr.shape[1]} metrics")
    return np.asarray(higher_is_better, dtype=bool)


def sign_adjust(points: Points, higher_is_better: Sequence[bool] | None = None) -> np.ndarray:
    """Points as an (n, m) float array in which every metric is higher-is-better."""
    arr = _as_points(points)
    if higher_is_better is None:
        return arr
    return arr * np.where(_higher(higher_is_better, arr), 1.0, -1.0)


def minimised(points: Points, higher_is_better: Sequence[bool] | None = None) -> np.ndarray:
    """Points as an (n, m) float array in which every metric is minimised (the negation of `sign_adjust`)."""
    arr = _as_points(points)
    # A product with signs, as pymoo problems have always been fed (the same bits as ``-sign_adjust(...)``).
    return arr * np.where(_higher(higher_is_better, arr), -1.0, 1.0)


def summed_score(points: Points, higher_is_better: Sequence[bool]) -> np.ndarray:
    """The sum of each point's sign-adjusted metrics: the single number the reference ranks (and searches) by."""
    if len(points) == 0:  # no columns to check the directions against
        return np.empty(0)
    return sign_adjust(points, higher_is_better).sum(axis=1)


# -- dominance and fronts -------------------------------------------------------------------------------------------
def dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each row of ``a`` dominates the matching row of ``b`` (minimised): nowhere worse, somewhere better."""
    return (a <= b).all(axis=-1) & (a < b).any(axis=-1)


def _dominance(objectives: np.ndarray) -> np.ndarray:
    """(n, n) bools, minimised: [i, j] when row i dominates row j."""
    n = len(objectives)
    no_worse = np.ones((n, n), dtype=bool)  # [i, j]: row i is nowhere worse than row j
    better = np.zeros((n, n), dtype=bool)  # [i, j]: row i is better than row j somewhere
    for column in objectives.T:  # one objective at a time: 2-D comparisons, no (n, n, m) temporaries
        no_worse &= column[:, None] <= column[None, :]
        better |= column[:, None] < column[None, :]
    return no_worse & better


def _front(objectives: np.ndarray) -> np.ndarray:
    """Ascending indices of the front of (n, m) minimised rows: not dominated, and not a copy of an earlier row."""
    if objectives.size == 0:  # no rows, or no metrics to be good at
        return np.empty(0, dtype=np.int64)
    n = len(objectives)
    dominated = _dominance(objectives).any(axis=0)
    same = np.ones((n, n), dtype=bool)
    for column in objectives.T:
        same &= column[:, None] == column[None, :]
    duplicate = np.tril(same, k=-1).any(axis=1)  # equal to an earlier row
    return np.flatnonzero(~dominated & ~duplicate)


def pareto_front(points: Points, higher_is_better: Sequence[bool] | None = None) -> list[int]:
    """Indices of the non-dominated points, in their original order.

    A point is dropped if another is at least as good in every metric and strictly better in one; of identical points
    only the first is kept. ``higher_is_better`` defaults to all True.
    """
    if len(points) == 0:  # before the directions are checked: an empty list has no metric columns
        return []
    return _front(minimised(points, higher_is_better)).tolist()


def non_dominated_ranks(objectives: np.ndarray, stop_after: int | None = None) -> np.ndarray:
    """Front number (0 = non-dominated) of each row, all objectives minimised. With ``stop_after``, ranking stops once
    that many rows are ranked; the others get rank ``len(objectives)``."""
    f = np.atleast_2d(objectives)
    n = len(f)
    dominance = _dominance(f).astype(np.int64)
    dominated_by = dominance.sum(axis=0)  # how many rows dominate each row
    ranks = np.full(n, n, dtype=np.int64)
    remaining = np.ones(n, dtype=bool)
    rank, ranked, stop = 0, 0, n if stop_after is None else stop_after
    while ranked < min(stop, n):
        front = np.flatnonzero(remaining & (dominated_by == 0))
        ranks[front] = rank
        remaining[front] = False
        dominated_by -= dominance[front].sum(axis=0)
        rank, ranked = rank + 1, ranked + len(front)
    return ranks


# -- NSGA-II survival and best-first orders --------------------------------------------------------------------------
def crowding_distance(objectives: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its set: the normalised gap between its neighbours along each
    objective, summed (the extremes of any objective: infinite)."""
    n, m = objectives.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(objectives[:, k], kind="stable")
        values = objectives[order, k]
        span = values[-1] - values[0]
        gaps = np.zeros(n)
        gaps[1:-1] = (values[2:] - values[:-2]) / (span if span > 0 else 1.0)
        gaps[[0, -1]] = np.inf
        distance[order] += gaps
    return distance


def survivors(objectives: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, ranks, crowding) of the ``n`` rows NSGA-II keeps: whole fronts by rank, each in the given row order,
    then the least crowded of the front that does not fit whole (pymoo's survival)."""
    ranks = non_dominated_ranks(objectives, stop_after=n)
    crowding = np.zeros(len(objectives))
    kept: list[np.ndarray] = []
    left = n
    for rank in np.unique(ranks[ranks < len(objectives)]):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = crowding_distance(objectives[members])
        if len(members) > left:
            members = members[np.argsort(-crowding[members], kind="stable")[:left]]
        kept.append(members)
        left -= len(members)
        if left == 0:
            break
    order = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
    return order, ranks[order], crowding[order]


# `spread_best` and `best_first` rank with pymoo's sort (moocore's), not `non_dominated_ranks`: the two agree on finite
# values but not on NaN, and the measured sub-networks (hence the benchmarks) follow pymoo's ranks.
def spread_best(objectives: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` rows as NSGA-II's survival picks them: whole fronts by non-dominated rank (all objectives
    minimised), then of the front that does not fit whole the least crowded points, so the measured population covers
    the trade-off."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    objectives = np.atleast_2d(objectives)
    chosen: list[int] = []
    for front in NonDominatedSorting().do(objectives, n_stop_if_ranked=n):
        front = np.asarray(front)
        if len(chosen) + len(front) <= n:
            chosen += front.tolist()
            continue
        least_crowded = np.argsort(-crowding_distance(objectives[front]), kind="stable")
        chosen += front[least_crowded[: n - len(chosen)]].tolist()
        break
    return np.asarray(chosen, dtype=np.int64)


def best_first(vectors: np.ndarray, objectives: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` ordered by the non-dominated rank of their ``objectives`` (all minimised); ties keep their
    order."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    ranks = NonDominatedSorting().do(np.atleast_2d(objectives), return_rank=True)[1]
    return vectors[np.argsort(ranks, kind="stable")]


# -- hypervolume ----------------------------------------------------------------------------------------------------
def default_ref_point(values: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """The worst measured value of each metric, moved `REF_MARGIN` of its range further (in the metric's own units)."""
    values = np.asarray(values, dtype=float).reshape(-1, len(higher_is_better))
    if len(values) == 0:
        raise ValueError("a default reference point needs at least one measured point")
    up = np.asarray(higher_is_better, dtype=bool)
    worst = np.where(up, values.min(axis=0), values.max(axis=0))
    spread = values.max(axis=0) - values.min(axis=0)
    spread = np.where(spread > 0, spread, np.maximum(np.abs(worst), 1.0))
    return worst + np.where(up, -1.0, 1.0) * REF_MARGIN * spread


class HypervolumeTracker:
    """The hypervolume of the measured front, updated point by point (it keeps only the current front).

    With a fixed ``ref_point`` the values are non-decreasing and comparable across runs. Without one, the reference
    point follows the worst values seen so far (`default_ref_point`), so the number can also grow when a worse point
    arrives: good for watching progress, not for comparing runs.
    """

    def __init__(self, higher_is_better: Sequence[bool], ref_point: Sequence[float] | None = None) -> None:
        self.higher_is_better = [bool(b) for b in higher_is_better]
        m = len(self.higher_is_better)
        self._fixed_ref = None if ref_point is None else np.asarray(ref_point, dtype=float)
        if self._fixed_ref is not None and self._fixed_ref.shape != (m,):
            raise ValueError(f"ref_point needs {m} values; got {list(ref_point or [])}")
        self._front = np.empty((0, m))  # minimised
        # Per metric, in its own units: the least and greatest value seen (the default reference point needs no more).
        self._low = np.full(m, np.inf)
        self._high = np.full(m, -np.inf)
        self.n_measured = 0

    @property
    def front_size(self) -> int:
        return len(self._front)

    @property
    def ref_point(self) -> np.ndarray:
        """The reference point in use, in the metrics' own units and directions."""
        if self._fixed_ref is not None:
            return self._fixed_ref.copy()
        if self.n_measured == 0:
            raise ValueError("no point measured yet: the default reference point is not defined")
        return default_ref_point(np.vstack([self._low, self._high]), self.higher_is_better)

    def add(self, point: Sequence[float]) -> float:
        """Record one measured point (values in metric order); return the hypervolume after it."""
        own = _as_points([list(point)])
        row = minimised(own, self.higher_is_better)  # a point of the wrong length: ValueError
        self.n_measured += 1
        self._low = np.minimum(self._low, own[0])
        self._high = np.maximum(self._high, own[0])
        candidates = np.vstack([self._front, row])
        self._front = candidates[_front(candidates)]
        return self.hypervolume()

    def hypervolume(self) -> float:
        if self.n_measured == 0:
            return 0.0
        from pymoo.indicators.hv import HV

        ref = minimised([self.ref_point], self.higher_is_better)[0]
        # Only points better than the reference in every metric have volume; with none, pymoo is not asked.
        inside = self._front[(self._front < ref).all(axis=1)]
        if len(inside) == 0:
            return 0.0
        return float(HV(ref_point=ref)(inside))
