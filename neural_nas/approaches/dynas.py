"""Dynamic NAS: multi-objective search over a weight-sharing super-network, predictors in the loop.

The driver owns the measured set (the results CSV is its durable copy) and hands a tactic (`evolution.tactics`) the
operations it needs: measure, fit predictors, build pymoo problems. Everything specific to a super-network comes from
the registered `SuperNetwork`; everything specific to a metric from `measurements.metrics`.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neural_nas._rng import as_generator
from neural_nas.config import NASConfig, load_config
from neural_nas.errors import ConfigError, MeasurementError, measuring
from neural_nas.nas.base import FailureGuard, NASBase, Trial, arch_key, nas_registry, timestamp
from neural_nas.plotting._info import HypervolumeTracker
from neural_nas.results import Journal
from neural_nas.results.lock import ResultsLock

logger = logging.getLogger("neural_nas")

DEFAULT_RESULTS_CSV = "dynas_results.csv"


@nas_registry("dynas")
class DyNAS(NASBase):
    """``DyNAS(conf)``: `search()` runs the configured tactic until ``nas.dynas.num_evals`` sub-networks are measured
    (rows of an existing results CSV included) and returns the last population measured; `find_best_model_archs()`
    gives the measured Pareto front; `estimate(subnet)` measures one sub-network; ``create_*_predictor()`` fit a
    predictor on the measurements so far."""

    def __init__(self, conf_fname_or_obj: str | NASConfig) -> None:
        super().__init__()
        self.conf = load_config(conf_fname_or_obj)
        self._check_config()
        self._measurer: Any = None
        self._rng: np.random.Generator | None = None

    # -- configuration ----------------------------------------------------------------------------------------------
    def _check_config(self) -> None:
        """Everything the config can get wrong fails here, before any measurement."""
        from neural_nas.evolution import algorithm_for
        from neural_nas.evolution.tactics import tactic_registry
        from neural_nas.measurements.metrics import metric_registry
        from neural_nas.supernets import SuperNetwork, create_supernet

        d = self.conf.dynas
        if d.supernet is None:
            raise ConfigError("nas.dynas.supernet", None, "a registered super-network name (required for dynas)")
        self.supernet = create_supernet(d.supernet)
        if d.metrics is None:
            raise ConfigError(
                "nas.dynas.metrics",
                None,
                f"1 to 3 of the metrics {self.supernet.name} can measure: {', '.join(self.supernet.metrics)}",
            )
        names = [metric_registry.canonical(m) for m in d.metrics]
        if len(set(names)) != len(names):
            raise ConfigError("nas.dynas.metrics", d.metrics, "distinct metrics (aliases count as their metric)")
        unsupported = [m for m in names if m not in self.supernet.metrics]
        if unsupported:
            raise ConfigError(
                "nas.dynas.metrics",
                d.metrics,
                f"metrics {self.supernet.name} can measure: {', '.join(self.supernet.metrics)}",
                f"it cannot measure {', '.join(unsupported)}",
            )
        self._metrics = [metric_registry.get(m) for m in names]
        self.algorithm = algorithm_for(self.conf.nas.search.search_algorithm, len(names))
        self._tactic = tactic_registry.get(d.search_tactic)
        self._own_measure = type(self.supernet).measure is not SuperNetwork.measure
        self._loads_weights = type(self.supernet).load is not SuperNetwork.load
        self._measurements_ready = False
        if "accuracy_top1" in names and not self._own_measure:
            if d.dataset_path is None:
                raise ConfigError(
                    "nas.dynas.dataset_path",
                    None,
                    "an ImageFolder root with train/ and val/ sub-folders (accuracy is an objective)",
                )
            if not d.pretrained:
                logger.warning("nas.dynas.pretrained is false: accuracy is measured on randomly initialised weights")

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self._metrics]

    @property
    def higher_is_better(self) -> list[bool]:
        return [m.higher_is_better for m in self._metrics]

    @functools.cached_property
    def exact_metric_names(self) -> frozenset[str]:
        """Metrics the super-network computes exactly and cheaply (never predicted, never measured on a model)."""
        return frozenset(self.supernet.exact_metrics(self.supernet.encoding.random_vectors(1, 0)))

    @property
    def population(self) -> int:
        return self.conf.dynas.population

    @property
    def inner_evals(self) -> int:
        return self.conf.dynas.inner_evals or self.supernet.inner_evals

    @property
    def results_csv_path(self) -> Path:
        return Path(self.conf.dynas.results_csv_path or DEFAULT_RESULTS_CSV)

    # -- measuring --------------------------------------------------------------------------------------------------
    def estimate(self, individual: Mapping[str, Any]) -> dict[str, float]:
        """Measure one sub-network (a parameter dict) on the configured metrics (plus exact cheap ones)."""
        subnet = self.supernet.parse_record(individual)
        self._prepare_measurements()
        if self._own_measure:
            result = self.supernet.measure(subnet, self.metric_names)
        else:
            result = self._default_measurer()(subnet)
        missing = [m for m in self.metric_names if m not in result]
        if missing:
            raise MeasurementError(subnet, f"the measurement returned {sorted(result)}, without {missing}")
        for name, value in result.items():
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                raise MeasurementError(subnet, f"metric {name!r} is {value!r}")
        return {name: float(value) for name, value in result.items()}

    def _device(self) -> str:
        if self.conf.dynas.device:
            return self.conf.dynas.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _prepare_measurements(self) -> None:
        """Everything measuring needs, once, before the first sub-network (its errors are not one sub-network's)."""
        if self._measurements_ready:
            return
        self._measurements_ready = True
        if not self._own_measure:
            self._default_measurer()  # its data set is checked before the (slower) super-network is built
        needs_model = any(m not in self.exact_metric_names for m in self.metric_names)
        if needs_model and (self._loads_weights or not self._own_measure):
            # A super-network measuring itself still gets the configured weights and device.
            d = self.conf.dynas
            self.supernet.load(pretrained=d.pretrained, ckpt_path=d.supernet_ckpt_path, device=self._device())

    def _default_measurer(self) -> Any:
        if self._measurer is None:
            from neural_nas.measurements.pipeline import SubnetMeasurer

            d = self.conf.dynas
            device = self._device()
            evaluator = None
            if "accuracy_top1" in self.metric_names:
                from neural_nas.measurements.accuracy import AccuracyEvaluator

                evaluator = AccuracyEvaluator(
                    d.dataset_path,
                    calibration_size=d.calibration_size,
                    eval_batch_size=d.eval_batch_size,
                    num_workers=d.num_workers,
                    test_fraction=d.test_fraction,
                    image_size=self.supernet.image_size,
                    device=device,
                    seed=self.conf.nas.search.seed,
                )
                evaluator.prepare()  # a bad dataset_path fails now, before the super-network is built
            self._measurer = SubnetMeasurer(
                self.supernet,
                self.metric_names,
                device=device,
                batch_size=d.batch_size,
                latency_warmup=d.latency_warmup,
                latency_steps=d.latency_steps,
                accuracy_evaluator=evaluator,
            )
        return self._measurer

    # -- predictors -------------------------------------------------------------------------------------------------
    def create_predictor(self, metric: str) -> Any:
        """A predictor of ``metric`` fitted on every measurement so far (exact for the super-network's cheap metrics).

        The returned object's ``predict`` takes sub-network dicts or choice-index vectors.
        """
        from neural_nas.measurements.metrics import metric_registry
        from neural_nas.predictors import ExactMetric, Predictor, SubnetPredictor, quality

        name = metric_registry.canonical(metric)
        if name in self.exact_metric_names:
            return ExactMetric(self.supernet, name)
        rows = [t for t in self._trials.values() if name in t.metrics]
        if len(rows) < 2:
            raise ValueError(f"a {name} predictor needs at least 2 measurements with {name}; there are {len(rows)}")
        vectors = np.stack([self.supernet.encoding.dict_to_vector(t.arch) for t in rows])
        y = np.array([t.metrics[name] for t in rows])
        seed = int(self._generator().integers(2**31))
        predictor = SubnetPredictor(self.supernet, name, Predictor(seed=seed).fit(self.supernet.features(vectors), y))
        fit = quality(y, predictor.predict(vectors))
        logger.info(
            "%s predictor: %s on %d measurements; in-sample Kendall tau %.3f, MAPE %.2f%%",
            name,
            predictor.estimator.selected_,
            len(rows),
            fit["kendall_tau"],
            fit["mape"],
        )
        return predictor

    def create_acc_predictor(self) -> Any:
        return self.create_predictor("accuracy_top1")

    def create_macs_predictor(self) -> Any:
        return self.create_predictor("macs")

    def create_latency_predictor(self) -> Any:
        return self.create_predictor("latency")

    # -- the search -------------------------------------------------------------------------------------------------
    def _generator(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = as_generator(self.conf.nas.search.seed)
        return self._rng

    def search(self, res_save_path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
        """Measure until ``num_evals`` sub-networks are measured; return the last ``population`` measured ones."""
        from neural_nas.distributed import Ranks

        ranks = Ranks(self.conf.dynas.distributed)
        try:
            if not ranks.is_driver:
                return self._serve(ranks)
            try:
                result = self._drive(ranks, res_save_path)
            except BaseException:
                ranks.broadcast(_STOP)  # workers are waiting for the next round: release them
                ranks.broadcast(_FAILED)
                raise
            ranks.broadcast(_STOP)
            return ranks.broadcast(result)
        finally:
            ranks.close()

    def _serve(self, ranks: Any) -> list[dict[str, Any]]:
        """A worker rank: measure this rank's share of every round the driver sends, until it says stop."""
        while not isinstance(round_ := ranks.broadcast(), str):  # a round of vectors, or _STOP
            vector = round_[ranks.rank] if ranks.rank < len(round_) else None
            ranks.gather(None if vector is None else self._measure_outcome(vector))
        result = ranks.broadcast()
        if isinstance(result, str):  # _FAILED
            raise RuntimeError(f"rank {ranks.rank}: the driver (rank 0) stopped with an error; see its log")
        return result

    def _measure_outcome(self, vector: np.ndarray) -> dict[str, Any]:
        """``{"metrics": ...}`` or ``{"error": reason}`` for one sub-network (what crosses between ranks)."""
        self._prepare_measurements()  # data set, weights: set-up errors are not failures of one sub-network
        subnet = self.supernet.encoding.vector_to_dict(vector)
        try:
            with measuring(subnet):
                return {"metrics": self.estimate(subnet)}
        except MeasurementError as err:
            return {"error": err.reason, "raised": err}

    def _drive(self, ranks: Any, res_save_path: str | os.PathLike | None) -> list[dict[str, Any]]:
        from tqdm.auto import tqdm

        from neural_nas.results.dynast_csv import ResultsCsv

        path = self.results_csv_path
        if res_save_path is not None and not path.is_absolute():
            path = Path(res_save_path) / path
        if path.is_dir():
            raise ConfigError("nas.dynas.results_csv_path", str(path), "the path of a results CSV file, not a folder")
        csv = ResultsCsv(path)
        failures = Journal(failures_path(path))
        budget = self.conf.dynas.num_evals
        with ResultsLock(path):  # one search per results file; the OS frees the lock on any exit
            self._resume(csv)
            self._resume_failures(failures)
            self._rng = None  # the same seed gives the same search, resumed or not
            spent = len(self._trials.keys() | self._failed.keys())  # failures count toward the budget
            logger.info(
                "dynas: %s, metrics %s, %s with %s, population %d, %d of %d measurements done; results in %s",
                self.supernet.name,
                self.metric_names,
                self.conf.dynas.search_tactic,
                self.algorithm.name,
                self.population,
                min(spent, budget),
                budget,
                path,
            )
            with tqdm(
                total=budget,
                initial=min(spent, budget),
                desc="sub-networks measured",
                unit="subnet",
                disable=None,
            ) as bar:
                self._tactic(_SearchState(self, csv, failures, budget, bar, ranks))
        self.find_best_model_archs()
        logger.info(
            "dynas done: %d measured, %d on the Pareto front%s",
            len(self._trials),
            len(self.best_model_archs),
            f", {len(self._failed)} failed" if self._failed else "",
        )
        return [t.arch for t in list(self._trials.values())[-self.population :]]

    def _resume(self, csv: Any) -> None:
        rows = csv.read(self.supernet.parse_record)
        if not rows:
            return
        vectors = np.stack([self.supernet.encoding.dict_to_vector(r.subnet) for r in rows])
        exact = self.supernet.exact_metrics(vectors)
        for name, values in exact.items():  # rows of another super-network give other MACs/params
            for number, (row, value) in enumerate(zip(rows, values), start=2):
                if name in row.metrics and row.metrics[name] != value:
                    raise ConfigError(
                        f"{csv.path}:{number}",
                        row.metrics[name],
                        f"results of {self.supernet.name} ({name} {int(value)} for this sub-network)",
                        "the file holds results of another super-network; point nas.dynas.results_csv_path elsewhere",
                    )
        incomplete = 0
        for i, row in enumerate(rows):
            metrics = {**{k: float(v[i]) for k, v in exact.items()}, **row.metrics}
            if any(m not in metrics for m in self.metric_names):
                incomplete += 1  # e.g. latency never measured in that file: not a result for this search
                continue
            self._trials.setdefault(arch_key(row.subnet), Trial(row.subnet, metrics))
        logger.info(
            "resuming from %s: %d earlier sub-networks%s",
            csv.path,
            len(self._trials),
            f" ({incomplete} rows lack a configured metric and are not used)" if incomplete else "",
        )

    def _resume_failures(self, failures: Journal) -> None:
        """Sub-networks recorded as failed by an earlier ``on_error: skip`` search are not measured again."""
        records = failures.read()
        if not records or self.conf.nas.search.retry_failed:
            return
        for number, record in enumerate(records, start=1):
            where = f"{failures.path}:{number}"
            if "arch" not in record or not isinstance(record.get("error"), str):
                raise ConfigError(where, record, "an object with 'arch' (a sub-network) and 'error' (a string)")
            try:
                subnet = self.supernet.parse_record(record["arch"])
            except ConfigError as err:
                raise ConfigError(where, record["arch"], err.allowed, err.hint) from err
            self._failed.setdefault(arch_key(subnet), subnet)
        logger.info(
            "%d sub-network(s) recorded as failed in %s are not measured again (nas.search.retry_failed: true "
            "retries them)",
            len(self._failed),
            failures.path,
        )


# What the driver broadcasts instead of a round: no more rounds; the search failed.
_STOP, _FAILED = "stop", "failed"


def failures_path(csv_path: str | os.PathLike) -> Path:
    """Where failed measurements of a search with ``on_error: skip`` are recorded: ``<csv>.failures.jsonl``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + ".failures.jsonl")


class _SearchState:
    """The operations a tactic performs on the driver (see `evolution.tactics.SearchState`)."""

    def __init__(self, nas: DyNAS, csv: Any, failures: Journal, budget: int, bar: Any, ranks: Any) -> None:
        from neural_nas.evolution.tactics import DEFAULT_INITIAL_POPULATION

        self.nas, self.csv, self.failures, self.budget, self.bar, self.ranks = nas, csv, failures, budget, bar, ranks
        self.population = nas.population
        self.initial_population = nas.conf.dynas.initial_population or min(nas.population, DEFAULT_INITIAL_POPULATION)
        self.inner_evals = nas.inner_evals
        self.algorithm = nas.algorithm
        self.encoding = nas.supernet.encoding
        # Measured or failed (on_error: skip): never proposed again, and counted toward the budget.
        self._done = {self._key(t.arch) for t in nas._trials.values()} | {self._key(a) for a in nas._failed.values()}
        self._guard = FailureGuard(nas.conf, str(failures.path))
        self._pending_quality: dict[str, Any] = {}
        # Hypervolume and front size of the measured points, shown on the progress bar as they change.
        self._hypervolume = HypervolumeTracker(nas.higher_is_better)
        for trial in nas._trials.values():
            self._hypervolume.add([trial.metrics[m] for m in nas.metric_names])

    def _key(self, subnet: Mapping[str, Any]) -> tuple[int, ...]:
        return tuple(int(v) for v in self.encoding.dict_to_vector(subnet))

    def n_measured(self) -> int:
        return len(self.nas._trials)

    def best_measured(self, n: int) -> np.ndarray:
        from neural_nas.evolution.tactics import best_first

        trials = list(self.nas._trials.values())
        vectors = np.array([self.encoding.dict_to_vector(t.arch) for t in trials], dtype=np.int64)
        signs = np.where(np.asarray(self.nas.higher_is_better, dtype=bool), -1.0, 1.0)  # all minimised, as pymoo's
        objectives = np.array([[t.metrics[m] for m in self.nas.metric_names] for t in trials]) * signs
        return best_first(vectors.reshape(-1, self.encoding.n_genes), objectives.reshape(len(trials), -1))[:n]

    def remaining(self) -> int:
        return max(self.budget - len(self._done), 0)

    def new_seed(self) -> int:
        return int(self.nas._generator().integers(2**31 - 1))

    def unmeasured(self, vectors: np.ndarray) -> np.ndarray:
        seen, keep = set(self._done), []
        for row in np.asarray(vectors, dtype=np.int64):
            key = tuple(int(v) for v in row)
            if key not in seen:
                seen.add(key)
                keep.append(row)
        return np.array(keep, dtype=np.int64).reshape(-1, self.encoding.n_genes)

    def n_unmeasured(self) -> int:
        return math.prod(int(c) for c in self.encoding.cardinalities) - len(self._done)

    def random_unmeasured(self, n: int) -> np.ndarray:
        n = min(n, self.n_unmeasured())
        out = np.empty((0, self.encoding.n_genes), dtype=np.int64)
        while len(out) < n:
            draw = self.encoding.random_vectors(2 * (n - len(out)) + 8, self.nas._generator())
            out = self.unmeasured(np.concatenate([out, draw]))[:n]
        return out

    def measure(self, vectors: np.ndarray) -> None:
        nas = self.nas
        proposed = np.asarray(vectors, dtype=np.int64).reshape(-1, self.encoding.n_genes)
        vectors = self.unmeasured(proposed)  # the driver, not each tactic, guarantees that nothing is measured twice
        if len(vectors) < len(proposed):
            logger.warning(
                "the %s tactic proposed %d sub-network(s) measured already or twice; not measured again",
                nas.conf.dynas.search_tactic,
                len(proposed) - len(vectors),
            )
        for start in range(0, len(vectors), self.ranks.world_size):  # one sub-network per rank and round
            round_ = vectors[start : start + self.ranks.world_size]
            self.ranks.broadcast(round_)
            own = nas._measure_outcome(round_[0])
            outcomes = self.ranks.gather({k: v for k, v in own.items() if k != "raised"})
            outcomes[0] = own
            error = None
            for vector, outcome in zip(round_, outcomes):
                error = error or self._record(vector, outcome)
            if error is not None:
                raise error  # every other outcome of the round is on disk first
        self._report_prediction_quality(vectors)

    def _record(self, vector: np.ndarray, outcome: dict[str, Any]) -> MeasurementError | None:
        """Write one measurement (or, with ``on_error: skip``, its failure) to disk; the error to raise otherwise."""
        nas = self.nas
        subnet = self.encoding.vector_to_dict(vector)
        key = tuple(int(v) for v in vector)
        if "error" in outcome:
            if not self._guard.skip:
                # This rank's own failure keeps its traceback; another rank's arrives as its message.
                return outcome.get("raised") or MeasurementError(subnet, outcome["error"])
            record = nas.supernet.subnet_record(subnet)
            self.failures.append({"arch": record, "error": outcome["error"], "time": timestamp()})
            nas._failed[arch_key(subnet)] = subnet
            self._done.add(key)
            self.bar.update(1)
            self._guard.failed(subnet, outcome["error"])
            return None
        metrics = outcome["metrics"]
        self._guard.succeeded()
        self.csv.append(nas.supernet.subnet_record(subnet), metrics)
        nas._trials[arch_key(subnet)] = Trial(subnet, metrics)
        self._done.add(key)
        hypervolume = self._hypervolume.add([metrics[m] for m in nas.metric_names])
        self.bar.set_postfix(hypervolume=f"{hypervolume:.4g}", front=self._hypervolume.front_size, refresh=False)
        self.bar.update(1)
        return None

    def _report_prediction_quality(self, vectors: np.ndarray) -> None:
        """How well the last predictors ranked the population they chose (out-of-sample: the honest number)."""
        from neural_nas.predictors import quality

        trials = self.nas._trials
        vectors = np.array(
            [v for v in np.asarray(vectors, dtype=np.int64) if arch_key(self.encoding.vector_to_dict(v)) in trials],
            dtype=np.int64,
        ).reshape(-1, self.encoding.n_genes)  # failed ones left out
        for name, predictor in self._pending_quality.items():
            if len(vectors) > 1:
                measured = [trials[arch_key(self.encoding.vector_to_dict(v))].metrics[name] for v in vectors]
                q = quality(measured, predictor.predict(vectors))
                logger.info(
                    "%s predictor on the population it chose: Kendall tau %.3f, MAPE %.2f%%",
                    name,
                    q["kendall_tau"],
                    q["mape"],
                )
        self._pending_quality = {}

    def predicted_problem(self) -> Any:
        from neural_nas.evolution import SubnetProblem
        from neural_nas.predictors import ExactMetric

        if self.n_measured() < self.initial_population:
            return None
        predictors = [self.nas.create_predictor(name) for name in self.nas.metric_names]
        self._pending_quality = {p.metric: p for p in predictors if not isinstance(p, ExactMetric)}
        return SubnetProblem(self.encoding.cardinalities, [p.predict for p in predictors], self.nas.higher_is_better)

    def measured_problem(self) -> Any:
        from neural_nas.evolution import SubnetProblem

        trials = self.nas._trials

        def lookup(name: str, higher_is_better: bool) -> Any:
            def values(vectors: np.ndarray) -> np.ndarray:
                # A failed sub-network (on_error: skip) scores as the worst measured value: never preferred.
                known = [t.metrics[name] for t in trials.values()]
                worst = (min(known) if higher_is_better else max(known)) if known else 0.0
                out = []
                for v in vectors:
                    trial = trials.get(arch_key(self.encoding.vector_to_dict(v)))
                    out.append(worst if trial is None else trial.metrics[name])
                return np.array(out, dtype=float)

            return values

        return SubnetProblem(
            self.encoding.cardinalities,
            [lookup(n, h) for n, h in zip(self.nas.metric_names, self.nas.higher_is_better)],
            self.nas.higher_is_better,
        )
