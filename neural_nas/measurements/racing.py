"""Racing a sub-network's validation: measure it in stages, stop it once even its best case cannot reach the front.

A raced metric is a mean over evaluation *units* (an image, a sentence, a batch of sentences: the measurer says which)
that the measurer can evaluate on any subset of them (`Sampled`). A `Race` evaluates the units in one fixed, seeded
order, the same for every candidate of the search (on every rank), in nested stages of ``STAGES`` of the whole set.
After each stage but the last it bounds the metric's value on the whole set from above (`optimistic`): the candidate
with that value and its other metrics (exact MACs and params, a measured latency) is compared with the measured
Pareto front the run sent with it (`Front`). If a front member dominates even that, the candidate is `Stopped`.

A candidate that runs to the end gets the measurer's own value of the whole set, computed by its own formula on the
units in their natural order: the number an unraced measurement gives.

Bounds, at ``CONFIDENCE`` per check, for the mean of a finite set of which a random subset has been seen:
- outcomes of 0 or 1 (right or wrong): the exact hypergeometric upper bound of the number right;
- other bounded outcomes (a batch's BLEU): Student's t with the finite-population correction, clipped to the range
  (Hoeffding's bound while every outcome seen is the same: t would claim no uncertainty at all).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from neural_nas.pareto import dominates, minimised

# Shares of the evaluation units after which a candidate may be stopped (the last is always the whole set): every
# eighth, which stopped more candidates than halvings (1/8, 1/4, 1/2) at no wrong stop (benchmarks/RESULTS.md).
STAGES = tuple(k / 8 for k in range(1, 9))
# Probability, per check, that the optimistic bound is at least the value on the whole set.
CONFIDENCE = 0.99


@dataclass(frozen=True)
class Front:
    """The measured Pareto front a candidate races against: plain data, sent to every rank with its round."""

    metric_names: tuple[str, ...]
    higher_is_better: tuple[bool, ...]
    points: tuple[tuple[float, ...], ...]

    def dominates(self, metrics: Mapping[str, float]) -> bool:
        """Whether some front member is nowhere worse than ``metrics`` and better somewhere."""
        if not self.points:
            return False
        point = minimised([[metrics[m] for m in self.metric_names]], self.higher_is_better)
        return bool(dominates(minimised(self.points, self.higher_is_better), point).any())


@dataclass(frozen=True)
class Stopped:
    """A candidate stopped by its race: a measurement spent, recorded beside the results, never measured again.

    ``metrics``: its known metrics (exact ones, those measured in full) and, for the raced one, the estimate from the
    units seen. ``samples`` of ``of`` units were evaluated; ``optimistic`` is the bound that the front dominated."""

    metrics: dict[str, float]
    raced: str
    samples: int
    of: int
    optimistic: float

    def as_record(self) -> dict[str, Any]:
        return {
            "raced": self.raced,
            "samples": self.samples,
            "of": self.of,
            "estimate": self.metrics[self.raced],
            "optimistic": self.optimistic,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class Sampled:
    """A metric a measurer can evaluate on any subset of its ``n`` units.

    ``outcomes(indices)``: each unit's outcome (a sorted index array in, one number per index out). ``scale``: the
    metric is ``scale`` times the outcomes' mean. ``whole(outcomes)``: the measurer's own formula for the whole set,
    given every unit's outcome in natural order. ``binary``: outcomes are 0 or 1; else they lie in ``[low, high]``.
    ``higher_is_better``: the metric's direction (the bound is on the side of the metric's best case)."""

    name: str
    n: int
    outcomes: Callable[[np.ndarray], np.ndarray]
    whole: Callable[[np.ndarray], float]
    scale: float = 1.0
    binary: bool = True
    low: float = 0.0
    high: float = 1.0
    higher_is_better: bool = True


@cache
def unit_order(n: int, seed: int) -> np.ndarray:
    """The order in which a search evaluates ``n`` units: one seeded permutation, the same for every candidate."""
    return np.random.default_rng([seed, n]).permutation(n)


def stage_sizes(n: int, stages: Sequence[float] = STAGES) -> list[int]:
    """Units evaluated by the end of each stage: increasing, at least one, the last ``n``."""
    return sorted({min(n, max(1, math.ceil(share * n))) for share in stages} | {n})


def optimistic(outcomes: np.ndarray, n: int, sampled: Sampled, confidence: float = CONFIDENCE) -> float:
    """An upper bound (a lower one for a metric to minimise), at ``confidence``, of the metric on all ``n`` units,
    from the outcomes of a random subset of them."""
    seen = len(outcomes)
    if seen >= n:
        return sampled.scale * float(np.mean(outcomes))
    if sampled.binary:
        mean = _binary_bound(int(round(outcomes.sum())), seen, n, confidence, sampled.higher_is_better)
    else:
        mean = _t_bound(outcomes, n, confidence, sampled.low, sampled.high, sampled.higher_is_better)
    return sampled.scale * mean


def _binary_bound(k: int, seen: int, n: int, confidence: float, upper: bool) -> float:
    """Bound on the share of ones among ``n`` units, ``k`` ones seen among ``seen`` drawn without replacement."""
    from scipy.stats import hypergeom

    if not upper:  # the bound on the ones of the zeros' upper bound
        return 1.0 - _binary_bound(seen - k, seen, n, confidence, True)
    # The largest total number of ones under which seeing k or fewer is still at least 1 - confidence likely. That
    # probability falls as the total grows: bisect between k (always plausible) and every unseen unit a one.
    low, high = k, k + n - seen
    while low < high:
        mid = (low + high + 1) // 2
        if hypergeom.cdf(k, n, mid, seen) >= 1.0 - confidence:
            low = mid
        else:
            high = mid - 1
    return low / n


def _t_bound(outcomes: np.ndarray, n: int, confidence: float, low: float, high: float, upper: bool) -> float:
    """Bound on the mean of ``n`` units from a random subset (Student's t, finite-population correction)."""
    from scipy.stats import t

    seen = len(outcomes)
    if seen < 2:
        return high if upper else low
    mean, spread = float(np.mean(outcomes)), float(np.std(outcomes, ddof=1))
    correction = math.sqrt(1 - seen / n)
    if spread > 0:
        half = t.ppf(confidence, seen - 1) * spread * correction / math.sqrt(seen)
    else:  # all alike so far: t knows nothing of the spread; Hoeffding's bound holds for any outcomes in the range
        half = (high - low) * math.sqrt(math.log(1 / (1 - confidence)) / (2 * seen)) * correction
    return min(high, mean + half) if upper else max(low, mean - half)


@dataclass(frozen=True)
class Race:
    """Races one candidate against ``front``; ``seed`` fixes the order of the units (the search's seed). The stages
    and confidence are the module's `STAGES` and `CONFIDENCE`, read when the race runs (benchmarks/racing.py varies
    them)."""

    front: Front
    seed: int

    def run(self, sampled: Sampled, known: Mapping[str, float]) -> float | Stopped:
        """The value of ``sampled`` on the whole set, or `Stopped` as soon as the front dominates its best case
        together with ``known`` (the candidate's other metrics)."""
        order = unit_order(sampled.n, self.seed)
        values = np.empty(sampled.n, dtype=float)
        done = 0
        for size in stage_sizes(sampled.n, STAGES):
            new = np.sort(order[done:size])
            values[new] = np.asarray(sampled.outcomes(new), dtype=float).reshape(-1)
            done = size
            if size == sampled.n:
                break
            seen = values[order[:size]]
            best_case = optimistic(seen, sampled.n, sampled, CONFIDENCE)
            if self.front.dominates({**known, sampled.name: best_case}):
                estimate = sampled.scale * float(np.mean(seen))
                return Stopped({**known, sampled.name: estimate}, sampled.name, size, sampled.n, best_case)
        return float(sampled.whole(values))
