"""The Dynamic NAS driver: the `SearchState` a tactic runs on, over a search in progress (`neural_nas.nas.run.Run`).

Data flows one way: the tactic proposes choice-index vectors -> the driver takes their canonical forms (one encoding
per network: `SuperNetwork.canonical`), drops those measured already and hands them to the run as sub-network dicts
-> the run measures them (here or across ranks) and records each outcome, on disk before the next round starts.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from neural_nas._rng import as_generator
from neural_nas.approaches.dynas.fitting import fit_predictor
from neural_nas.approaches.dynas.settings import Settings
from neural_nas.evolution.tactics import EXHAUSTIVE_LIMIT
from neural_nas.pareto import best_first, sign_adjust

logger = logging.getLogger("neural_nas")

# Random draws in a row that may find no unmeasured network before the driver concludes there is none left.
MAX_FRUITLESS_DRAWS = 50
# Whether the predictors also learn from sub-networks stopped by racing (their estimates from part of the data: noisier,
# and biased low, since a poor start is what stops them), or only from whole measurements: learning kept the front's
# hypervolume closer to the unraced run's at the same savings (benchmarks/RESULTS.md, "Racing").
PREDICTORS_LEARN_FROM_STOPPED = True


class Driver:
    """Implements `evolution.tactics.SearchState` over ``run`` (a `neural_nas.nas.run.Run`)."""

    def __init__(self, settings: Settings, run: Any) -> None:
        self.settings, self.run, self.study = settings, run, run.study
        self.population = settings.population
        self.initial_population = settings.initial_population
        self.inner_evals = settings.inner_evals
        self.algorithm = settings.algorithm
        self.constrained = bool(settings.constraints)
        self.encoding = settings.supernet.encoding
        self.rng = as_generator(settings.seed)  # the same seed gives the same search, resumed or not
        self._pending_quality: dict[str, Any] = {}
        self._every_network: np.ndarray | None = None  # `all_unmeasured`'s enumeration of a small space
        self._last_predictors: dict[str, Any] = {}  # per metric: the last fit, whose tuning the next one may reuse
        if self.constrained and self.study.trials:  # resumed rows measured before the constraints were set
            vectors = np.array([self.encoding.dict_to_vector(t.arch) for t in self.study.trials], dtype=np.int64)
            outside = int((settings.violation(vectors) > 0).sum())
            if outside:
                logger.warning(
                    "%d of the %d resumed rows miss %s: they stay in the results and count toward num_evals; "
                    "pick among the others with --where",
                    outside,
                    len(vectors),
                    ", ".join(str(c) for c in settings.constraints),
                )

    def _subnet(self, vector: np.ndarray) -> dict[str, Any]:
        return self.encoding.vector_to_dict(vector)

    # -- what the tactic asks ---------------------------------------------------------------------------------------
    def n_measured(self) -> int:
        return len(self.study)

    def remaining(self) -> int:
        return self.run.remaining()

    def new_seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    def best_measured(self, n: int) -> np.ndarray:
        trials = self.study.trials
        if not trials:
            return np.empty((0, self.encoding.n_genes), dtype=np.int64)
        vectors = np.array([self.encoding.dict_to_vector(t.arch) for t in trials], dtype=np.int64)
        points = [[t.metrics[m] for m in self.settings.metric_names] for t in trials]
        return best_first(vectors, -sign_adjust(points, self.settings.higher_is_better))[:n]  # all minimised

    def unmeasured(self, vectors: np.ndarray) -> np.ndarray:
        seen, keep = set(), []
        # Canonical forms: an encoding of a network measured under other (inactive) genes is that network.
        rows = self.settings.supernet.canonical(np.asarray(vectors, dtype=np.int64).reshape(-1, self.encoding.n_genes))
        rows = rows[self.settings.violation(rows) == 0]  # a sub-network that misses a constraint is never measured
        for row in rows:
            key = tuple(int(v) for v in row)
            if key not in seen and not self.study.is_done(self._subnet(row)):
                seen.add(key)
                keep.append(row)
        return np.array(keep, dtype=np.int64).reshape(-1, self.encoding.n_genes)

    def n_unmeasured(self) -> int:
        if self.settings.constraints:  # the feasible ones: counted exactly where the space can be enumerated
            every = self.all_unmeasured(EXHAUSTIVE_LIMIT)
            if every is not None:
                return len(every)
        return self.settings.supernet.n_networks() - self.study.n_done()

    def all_unmeasured(self, limit: int) -> np.ndarray | None:
        if math.prod(int(c) for c in self.encoding.cardinalities) > limit:
            return None
        if self._every_network is None:  # the space does not change: enumerate it once per search
            axes = [np.arange(int(c)) for c in self.encoding.cardinalities]
            every = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.encoding.n_genes)
            every = np.unique(self.settings.supernet.canonical(every), axis=0)
            self._every_network = every[self.settings.violation(every) == 0]
        networks = self._every_network
        recorded = [t.arch for t in self.study.trials + self.study.stopped] + self.study.failures
        done = [self.encoding.dict_to_vector(a) for a in recorded]
        if not done:
            return networks.copy()
        # One integer per encoding (mixed radix over the genes' choice counts: the space is small here).
        radix = np.cumprod([1, *[int(c) for c in self.encoding.cardinalities[:0:-1]]])[::-1]
        measured = np.isin(networks @ radix, np.asarray(done, dtype=np.int64) @ radix)
        return networks[~measured].reshape(-1, self.encoding.n_genes)

    def random_unmeasured(self, n: int) -> np.ndarray:
        if self.constrained and (every := self.all_unmeasured(EXHAUSTIVE_LIMIT)) is not None:
            # Few may meet the constraints: draw among those, not among the whole space.
            return every[self.rng.choice(len(every), size=min(n, len(every)), replace=False)]
        n = min(n, self.n_unmeasured())
        out = np.empty((0, self.encoding.n_genes), dtype=np.int64)
        stalled = 0  # draws in a row that found nothing new: the space is used up (n_networks() counts too many)
        while len(out) < n and stalled < MAX_FRUITLESS_DRAWS:
            draw = self.encoding.random_vectors(2 * (n - len(out)) + 8, self.rng)
            more = self.unmeasured(np.concatenate([out, draw]))[:n]
            stalled = stalled + 1 if len(more) == len(out) else 0
            out = more
        if len(out) < n and self.settings.constraints:
            logger.warning(
                "%d random draws in a row met no unmeasured sub-network within %s: %d found",
                MAX_FRUITLESS_DRAWS,
                ", ".join(str(c) for c in self.settings.constraints),
                len(out),
            )
        elif len(out) < n:
            logger.warning(
                "%s: only %d unmeasured networks found of the %d that n_networks() leaves; if canonical() merges "
                "encodings, n_networks() must count the merged networks",
                self.settings.supernet.name,
                len(out),
                n,
            )
        return out

    def predicted_problem(self) -> Any:
        from neural_nas.evolution import SubnetProblem
        from neural_nas.predictors import ExactMetric

        if self.n_measured() < self.initial_population:
            return None
        predictors = [self.fit_predictor(m) for m in self.settings.metric_names]
        self._pending_quality = {p.metric: p for p in predictors if not isinstance(p, ExactMetric)}
        return SubnetProblem(
            self.encoding.cardinalities,
            [p.predict for p in predictors],
            self.settings.higher_is_better,
            self._violation(),
        )

    def fit_predictor(self, metric: str) -> Any:
        """A predictor of ``metric`` on every measurement so far (its seed drawn from the search's generator)."""
        stopped = [t for t in self.study.stopped if metric in t.metrics] if PREDICTORS_LEARN_FROM_STOPPED else []
        trials = self.study.trials + stopped
        predictor = fit_predictor(self.settings.supernet, trials, metric, self.rng, self._last_predictors.get(metric))
        self._last_predictors[metric] = predictor
        return predictor

    def measured_problem(self) -> Any:
        from neural_nas.evolution import SubnetProblem

        def lookup(name: str) -> Any:
            def values(vectors: np.ndarray) -> np.ndarray:
                # A failed (or unmeasured) sub-network scores the study's failure value: never preferred.
                canonical = self.settings.supernet.canonical(vectors)
                return np.array([self.study.metrics_of(self._subnet(v))[name] for v in canonical], dtype=float)

            return values

        return SubnetProblem(
            self.encoding.cardinalities,
            [lookup(n) for n in self.settings.metric_names],
            self.settings.higher_is_better,
            self._violation(),
        )

    def _violation(self) -> Any:
        return self.settings.violation if self.settings.constraints else None

    # -- measuring ------------------------------------------------------------------------------------------------
    def measure(self, vectors: np.ndarray) -> None:
        proposed = np.asarray(vectors, dtype=np.int64).reshape(-1, self.encoding.n_genes)
        vectors = self.unmeasured(proposed)  # the driver, not each tactic, takes canonical forms
        if len(vectors) < len(proposed):
            logger.warning(
                "the %s tactic proposed %d sub-network(s) measured already or twice; not measured again",
                self.settings.tactic_name,
                len(proposed) - len(vectors),
            )
        self.run.measure([self._subnet(v) for v in vectors])
        self._report_prediction_quality(vectors)

    def _report_prediction_quality(self, vectors: np.ndarray) -> None:
        """How well the last predictors ranked the population they chose (out-of-sample: the honest number)."""
        from neural_nas.predictors import quality

        trials = [t for t in (self.study.get(self._subnet(v)) for v in vectors) if t is not None]  # failed ones out
        for name, predictor in self._pending_quality.items():
            if len(trials) > 1:
                measured = [t.metrics[name] for t in trials]
                q = quality(measured, predictor.predict([t.arch for t in trials]))
                logger.info(
                    "%s predictor on the population it chose: Kendall tau %.3f, MAPE %.2f%%",
                    name,
                    q["kendall_tau"],
                    q["mape"],
                )
        self._pending_quality = {}
