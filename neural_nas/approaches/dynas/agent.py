"""``DyNAS``: the public face of Dynamic NAS (the seed document's interface), wiring the driver's parts together.

The settings are validated when the agent is built (`settings`) and again whenever one changes (an attribute set
on the agent, or ``agent.conf`` edited before `search`); `search` then opens the results store, replays it into the
study, and runs the configured tactic on a `Driver` whose `Executor` measures here or across ranks.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neural_nas._rng import as_generator
from neural_nas.approaches.dynas.driver import Driver
from neural_nas.approaches.dynas.executor import Executor, Failed, Measured, Outcome
from neural_nas.approaches.dynas.measurement import Measurement
from neural_nas.approaches.dynas.predictors import fit_predictor
from neural_nas.approaches.dynas.settings import (
    BASIC_ONLY_SEARCH_KEYS,
    DEFAULT_RESULTS_CSV,
    Settings,
    resolve,
    warn_unused_settings,
)
from neural_nas.config import NASConfig, load_config
from neural_nas.errors import ConfigError, MeasurementError
from neural_nas.nas.base import NASBase, nas_registry, nothing_to_do
from neural_nas.nas.study import Study
from neural_nas.results.csv_store import CsvStore
from neural_nas.results.lock import ResultsLock

logger = logging.getLogger("neural_nas")


@nas_registry("dynas")
class DyNAS(NASBase):
    """``DyNAS(conf)``: `search()` runs the configured tactic until ``nas.dynas.num_evals`` sub-networks are measured
    (rows of an existing results CSV included) and returns the last population measured; `find_best_model_archs()`
    gives the measured Pareto front; `estimate(subnet)` measures one sub-network; ``create_*_predictor()`` fit a
    predictor on the measurements so far."""

    def __init__(self, conf_fname_or_obj: str | NASConfig) -> None:
        super().__init__()
        self.conf = load_config(conf_fname_or_obj)
        self.settings: Settings = resolve(self.conf)  # every config error fails here, before any measurement
        warn_unused_settings(self.conf, self.supernet)
        self._study = self._new_study()
        self._measurement = Measurement(self.settings, self.conf.dynas)
        self._measured_with = _measurement_key(self.conf)
        self._results_from: Path | None = None  # the results file the study holds (None: none read yet)
        self._rng: np.random.Generator | None = None

    # -- the command line -------------------------------------------------------------------------------------------
    @classmethod
    def prepare_command_line(cls, config: NASConfig, output_dir: Path) -> str | None:
        if not config.is_set("nas.dynas.results_csv_path"):
            config.set("nas.dynas.results_csv_path", str(output_dir / DEFAULT_RESULTS_CSV))
        return None  # the CSV path says where results go

    def results_path(self, res_save_path: str | os.PathLike | None = None) -> Path:
        """``nas.dynas.results_csv_path`` (default ``dynas_results.csv``), inside ``res_save_path`` if relative."""
        path = self.settings.results_csv_path
        return Path(res_save_path) / path if res_save_path is not None and not path.is_absolute() else path

    def validate(self) -> None:
        """Resolve the settings again: what was set on ``agent.conf`` since the agent was built is checked (and used
        by the next `search`). ``neural-nas check-config`` runs exactly this."""
        self._adopt(self.conf)

    # -- the record of a run ----------------------------------------------------------------------------------------
    def resolved_config(self) -> dict[str, Any]:
        """The configuration this search runs, with the values it resolved itself (algorithm, inner evaluations,
        initial population, results file, device) filled in, and without the keys only Basic NAS reads."""
        out = json.loads(json.dumps(self.conf.to_dict()))
        s, search, dynas = self.settings, out["nas"]["search"], out["nas"]["dynas"]
        for key in BASIC_ONLY_SEARCH_KEYS:
            search.pop(key, None)
        search["search_algorithm"] = s.algorithm.name
        dynas.update(
            supernet=s.supernet.name,
            inner_evals=s.inner_evals,
            initial_population=s.initial_population,
            results_csv_path=str(s.results_csv_path),
            device=self._measurement.device,
        )
        return out

    def _new_study(self) -> Study:
        return Study(self.settings.metric_names, self.settings.higher_is_better)

    def _results_store(self, path: Path) -> CsvStore:
        return CsvStore(path, self.supernet, self.settings.metric_names)

    budget_key = "nas.dynas.num_evals"

    def _budget(self) -> int:
        return self.settings.num_evals

    # -- what Basic NAS takes and Dynamic NAS does not --------------------------------------------------------------
    @NASBase.search_space.setter
    def search_space(self, search_space: Any) -> None:
        raise ConfigError(
            "search_space",
            search_space,
            "unset for Dynamic NAS",
            f"the search space is the super-network's genes ({self.supernet.name}); choose another with "
            "nas.dynas.supernet, or register your own (docs/dynamic_nas.md)",
        )

    @NASBase.model_builder.setter
    def model_builder(self, model_builder: Any) -> None:
        raise ConfigError(
            "model_builder",
            model_builder,
            "unset for Dynamic NAS",
            "sub-networks are extracted from the super-network; a model builder is for Basic NAS (nas.approach: basic)",
        )

    @NASBase.search_algorithm.setter
    def search_algorithm(self, search_algorithm: Any) -> None:
        if not isinstance(search_algorithm, str):
            raise ConfigError(
                "search_algorithm",
                search_algorithm,
                "the name of a Dynamic NAS evolutionary algorithm (see `neural-nas list`)",
                "searcher objects with suggest()/get_feedback() are for Basic NAS",
            )
        self._reconfigure("nas.search.search_algorithm", search_algorithm)

    # -- the reference's agent attributes -----------------------------------------------------------------------------
    @NASBase.max_trials.setter
    def max_trials(self, value: Any) -> None:
        raise ConfigError(
            "max_trials",
            value,
            "unset for Dynamic NAS",
            "its budget is nas.dynas.num_evals (agent.conf.dynas.num_evals)",
        )

    @NASBase.seed.setter
    def seed(self, value: int) -> None:
        self._reconfigure("nas.search.seed", value)

    @NASBase.metrics.setter
    def metrics(self, names: Any) -> None:
        self._reconfigure("nas.dynas.metrics", names)

    @NASBase.higher_is_better.setter
    def higher_is_better(self, value: Any) -> None:
        raise ConfigError(
            "higher_is_better",
            value,
            "unset for Dynamic NAS",
            "each metric declares its direction (neural_nas.measurements.metric_registry)",
        )

    def _reconfigure(self, key: str, value: Any) -> None:
        """Change one setting of ``agent.conf`` (checked on a copy first: a bad value changes nothing) and adopt it."""
        trial = self.conf.copy()
        trial.set(key, value)
        self._check_metrics_change(resolve(trial))
        self.conf.set(key, value)
        self._adopt(self.conf)

    def _check_metrics_change(self, settings: Settings) -> None:
        if settings.metric_names != self.settings.metric_names and len(self.study):
            raise ConfigError(
                "nas.dynas.metrics",
                [m.name for m in settings.metrics],
                f"the metrics of the recorded results ({', '.join(self.settings.metric_names)})",
                "recorded results keep their metrics; use a new agent and results file",
            )

    def _adopt(self, config: NASConfig) -> None:
        """Resolve ``config`` again. Whatever measuring depends on (the ``nas.dynas`` section, the seed) unchanged,
        the super-network instance and its loaded weights are kept; otherwise measuring starts afresh. The metrics
        may change only while nothing is recorded."""
        key = _measurement_key(config)
        settings = resolve(config, supernet=self.settings.supernet if key == self._measured_with else None)
        self._check_metrics_change(settings)
        metrics_changed = settings.metric_names != self.settings.metric_names
        if key != self._measured_with:
            self._measurement, self._measured_with, self._rng = Measurement(settings, config.dynas), key, None
        self.conf, self.settings = config, settings
        if metrics_changed:
            self._study = self._new_study()

    def select_model_arch(self) -> dict[str, Any] | None:
        raise ConfigError(
            "select_model_arch",
            "called",
            "not called on a Dynamic NAS agent",
            "its search tactic (nas.dynas.search_tactic) proposes sub-networks inside search()",
        )

    def load_search_results(self, path: str | os.PathLike) -> dict[tuple, dict[str, float]]:
        """Load a results CSV of this super-network (as a search resuming it would); returns `search_results`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"search results file not found: {str(path)!r}")
        CsvStore(path, self.supernet, self.settings.metric_names).replay(self.study)
        return self.search_results

    # -- properties -------------------------------------------------------------------------------------------------
    @property
    def supernet(self) -> Any:
        return self.settings.supernet

    @supernet.setter
    def supernet(self, name: str) -> None:
        self._reconfigure("nas.dynas.supernet", name)

    @property
    def algorithm(self) -> Any:
        return self.settings.algorithm

    @property
    def population(self) -> int:
        return self.settings.population

    @population.setter
    def population(self, value: int) -> None:
        self._reconfigure("nas.dynas.population", value)

    @property
    def inner_evals(self) -> int:
        return self.settings.inner_evals

    @property
    def results_csv_path(self) -> Path:
        return self.settings.results_csv_path

    @results_csv_path.setter
    def results_csv_path(self, path: str | os.PathLike) -> None:
        self._reconfigure("nas.dynas.results_csv_path", str(path))

    @property
    def search_algo(self) -> str:
        """The reference's name for the evolutionary algorithm (`search_algorithm`)."""
        return self.settings.algorithm.name

    @search_algo.setter
    def search_algo(self, name: str) -> None:
        self.search_algorithm = name

    @property
    def train_func(self) -> None:
        return None

    @train_func.setter
    def train_func(self, value: Any) -> None:
        raise ConfigError("train_func", value, "unset for Dynamic NAS", "its super-network is trained already")

    @property
    def eval_func(self) -> None:
        return None

    @eval_func.setter
    def eval_func(self, value: Any) -> None:
        hint = "sub-networks are measured by the super-network's metrics; register your own (docs/extending.md)"
        raise ConfigError("eval_func", value, "unset for Dynamic NAS", hint)

    @property
    def exact_metric_names(self) -> frozenset[str]:
        """Metrics the super-network computes exactly and cheaply (never predicted, never measured on a model)."""
        return frozenset(self.supernet.exact_metric_names)

    # -- measuring and predicting -----------------------------------------------------------------------------------
    def estimate(self, individual: Mapping[str, Any]) -> dict[str, float]:
        """Measure one sub-network (a parameter dict) on the configured metrics (plus exact cheap ones)."""
        return self._measurement.measure(self.supernet.parse_record(individual))

    def create_predictor(self, metric: str) -> Any:
        """A predictor of ``metric`` fitted on every measurement so far (exact for the super-network's cheap metrics).

        The returned object's ``predict`` takes sub-network dicts or choice-index vectors.
        """
        if self._rng is None:
            self._rng = as_generator(self.settings.seed)
        return fit_predictor(self.supernet, self.study.trials, self.supernet.canonical_metric(metric), self._rng)

    # The reference stored each predictor on the agent (and returned nothing): both here.
    def create_acc_predictor(self) -> Any:
        self.acc_predictor = self.create_predictor(self.supernet.canonical_metric("acc"))
        return self.acc_predictor

    def create_macs_predictor(self) -> Any:
        self.macs_predictor = self.create_predictor("macs")
        return self.macs_predictor

    def create_latency_predictor(self) -> Any:
        self.latency_predictor = self.create_predictor("latency")
        return self.latency_predictor

    # -- the search -------------------------------------------------------------------------------------------------
    def search(self, res_save_path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
        """Measure until ``num_evals`` sub-networks are measured; return the last ``population`` measured ones."""
        from neural_nas.distributed import Ranks

        self.validate()
        ranks = Ranks(self.settings.distributed)
        executor = Executor(ranks, self._measure_vector)
        try:
            if not executor.is_driver:
                return executor.serve()
            try:
                result = self._drive(executor, res_save_path)
            except BaseException:
                try:
                    executor.stop(failed=True)  # the other ranks wait for the next round: release them
                except Exception:  # the group may be gone (a dead rank): the original error is the one to see
                    logger.warning("could not tell the other ranks that the search failed", exc_info=True)
                raise
            return executor.stop(result)
        finally:
            ranks.close()

    def _measure_vector(self, vector: np.ndarray) -> Outcome:
        self._measurement.prepare()  # data set, weights: set-up errors are the search's, not one sub-network's
        subnet = self.supernet.encoding.vector_to_dict(vector)
        try:
            return Measured(self._measurement.measure(subnet))
        except MeasurementError as err:
            return Failed(err.reason, err)

    def _drive(self, executor: Executor, res_save_path: str | os.PathLike | None) -> list[dict[str, Any]]:
        from tqdm.auto import tqdm

        settings = self.settings
        path = self.results_path(res_save_path)
        if self._results_from is not None and self._results_from != path.resolve():
            self._study = self._new_study()  # another file: its own record
        self._results_from, study = path.resolve(), self.study
        store = self._results_store(path)
        with ResultsLock(path):  # one search per results file; the OS frees the lock on any exit
            store.replay(study, retry_failed=settings.retry_failed)
            spent, budget = study.spent(), settings.num_evals
            setup = self._measurement.latency_setup() if spent < budget else None  # only a search that measures
            if setup is not None:
                store.record_latency_setup(setup, results_before=len(study))
            if spent >= budget:
                logger.info(nothing_to_do(path, spent, budget, self.budget_key))
            else:
                logger.info(
                    "dynas: %s, metrics %s, %s with %s, population %d, %d of %d measurements done; results in %s",
                    self.supernet.name,
                    settings.metric_names,
                    settings.tactic_name,
                    settings.algorithm.name,
                    settings.population,
                    spent,
                    budget,
                    path,
                )
            with tqdm(
                total=budget, initial=min(spent, budget), desc="sub-networks measured", unit="subnet", disable=None
            ) as bar:
                settings.tactic(Driver(settings, study, store, executor, bar))
        self.find_best_model_archs()
        logger.info(
            "dynas done: %d measured, %d on the Pareto front%s",
            len(study),
            len(self.best_model_archs),
            f", {len(study.failures)} failed" if study.failures else "",
        )
        return [t.arch for t in study.trials[-settings.population :]]


def _measurement_key(config: NASConfig) -> str:
    """Everything measuring depends on: the ``nas.dynas`` section (super-network, metrics, data, weights, device,
    batches) and the seed, defaults filled in."""
    document = config.to_dict()["nas"]
    return json.dumps({"dynas": document["dynas"], "seed": document["search"]["seed"]}, sort_keys=True, default=str)


def _dynas_setting(name: str) -> property:
    def get(self: DyNAS) -> Any:
        return self.conf.get(f"nas.dynas.{name}")

    def set_(self: DyNAS, value: Any) -> None:
        self._reconfigure(f"nas.dynas.{name}", value)

    return property(get, set_, doc=f"``nas.dynas.{name}`` (the reference's agent attribute): used by the next search.")


# The reference's DyNAS kept these settings as attributes that its search read; here they are the config's keys.
for _name in (
    "num_evals",
    "dataset_path",
    "batch_size",
    "eval_batch_size",
    "supernet_ckpt_path",
    "num_workers",
    "distributed",
    "test_fraction",
):
    setattr(DyNAS, _name, _dynas_setting(_name))
