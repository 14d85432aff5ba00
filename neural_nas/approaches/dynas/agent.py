"""``DyNAS``: the public face of Dynamic NAS (the seed document's interface): the hooks of a search over a
super-network.

The settings are validated when the agent is built (`settings`) and again whenever one changes (an attribute set
on the agent, or ``agent.conf`` edited before `search`). `search` is the run every approach shares
(`neural_nas.nas.run`); this class says where the results live (the DyNAS-T CSV), how one sub-network is measured
(`measurement`) and how sub-networks are proposed: the configured tactic on a `Driver`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neural_nas._rng import as_generator
from neural_nas.approaches.dynas.driver import Driver
from neural_nas.approaches.dynas.fitting import fit_predictor
from neural_nas.approaches.dynas.settings import (
    BASIC_ONLY_SEARCH_KEYS,
    Settings,
    resolve,
    warn_unused_settings,
)
from neural_nas.approaches.dynas.subnet_measurement import SubnetMeasurement
from neural_nas.config import NASConfig, load_config
from neural_nas.errors import ConfigError
from neural_nas.measurements.racing import Front, Stopped
from neural_nas.nas.base import NASBase, nas_registry
from neural_nas.nas.executor import Measured
from neural_nas.results.csv_store import CsvStore, racing_path
from neural_nas.results.study import Study

if TYPE_CHECKING:
    from neural_nas.nas.run import Run

logger = logging.getLogger("neural_nas")


@nas_registry("dynas")
class DyNAS(NASBase):
    """``DyNAS(conf)``: `search()` runs the configured tactic until ``nas.dynas.num_evals`` sub-networks are measured
    (rows of an existing results CSV included) and returns the last population measured; `find_best_model_archs()`
    gives the measured Pareto front; `estimate(subnet)` measures one sub-network; ``create_*_predictor()`` fit a
    predictor on the measurements so far."""

    attribute_column = "dynas"
    title = "Dynamic NAS"
    budget_key = "nas.dynas.num_evals"
    metrics_key = "nas.dynas.metrics"
    takes_searcher_objects = False
    progress_label = ("sub-networks measured", "subnet")

    def __init__(self, conf_fname_or_obj: str | NASConfig) -> None:
        super().__init__()
        self.conf = load_config(conf_fname_or_obj)
        self.settings: Settings = resolve(self.conf)  # every config error fails here, before any measurement
        warn_unused_settings(self.conf, self.supernet)
        self._study = self._new_study()
        self._measurement = SubnetMeasurement(self.settings, self.conf.dynas)
        self._measured_with = _measurement_key(self.conf)
        self._resolved_for = _document(self.conf)  # the settings are resolved again only when the config changes
        self._rng: np.random.Generator | None = None

    # -- the command line -------------------------------------------------------------------------------------------
    @classmethod
    def prepare_command_line(cls, config: NASConfig, output_dir: Path) -> str | None:
        if not config.is_set("nas.dynas.results_csv_path"):
            output_dir.mkdir(parents=True, exist_ok=True)  # the command's own folder, named on its command line
            config.set("nas.dynas.results_csv_path", str(output_dir / config.resolved("nas.dynas.results_csv_path")))
        return None  # the CSV path says where results go

    def validate(self) -> None:
        """Resolve the settings again: what was set on ``agent.conf`` since the agent was built is checked (and used
        by the next `search`). ``neural-nas check-config`` runs exactly this."""
        if _document(self.conf) != self._resolved_for:
            self._adopt(self.conf)

    # -- hooks of a search ------------------------------------------------------------------------------------------
    def measures_across_ranks(self) -> bool:
        return self.settings.distributed

    def measurer(self) -> Callable[..., Measured | Stopped]:
        def measure(subnet: dict[str, Any], front: Front | None = None) -> Measured | Stopped:
            result = self._measurement.measure(subnet, front)
            return result if isinstance(result, Stopped) else Measured(result)

        return measure

    def race_front(self, run: Run) -> Front | None:
        """With ``nas.dynas.racing``, the measured front (None before anything is measured: nothing to race)."""
        if not len(run.study) or self._measurement.raced_metric is None:
            return None
        names = tuple(self.settings.metric_names)
        points = tuple(tuple(t.metrics[m] for m in names) for t in run.study.front())
        return Front(names, tuple(self.settings.higher_is_better), points)

    def results_path(self, res_save_path: str | os.PathLike | None = None) -> Path:
        """``nas.dynas.results_csv_path`` (default ``dynas_results.csv``), inside ``res_save_path`` if relative."""
        path = self.settings.results_csv_path
        return Path(res_save_path) / path if res_save_path is not None and not path.is_absolute() else path

    def open_results(self, path: Path) -> CsvStore:
        return CsvStore(path, self.supernet, self.settings.metric_names)

    def search_budget(self) -> int:
        return self.settings.num_evals

    def start_run(self, run: Run) -> None:
        """Record how latency is measured beside the CSV (only a search that measures), and say what runs."""
        settings, spent = self.settings, run.study.spent()
        if not run.remaining():
            return
        # The data set and the weights, before anything else (a resumed search fits its predictors first): a file
        # that cannot be read stops the search now, not after minutes of work.
        self._measurement.prepare()
        setup = self._measurement.latency_setup()
        if setup is not None:
            run.store.record_latency_setup(setup, results_before=len(run.study))
        logger.info(
            "dynas: %s, metrics %s, %s with %s, population %d, %d of %d measurements done; results in %s",
            self.supernet.name,
            settings.metric_names,
            settings.tactic_name,
            settings.algorithm.name,
            settings.population,
            spent,
            run.budget,
            run.store.path,
        )

    def propose(self, run: Run) -> None:
        self.settings.tactic(Driver(self.settings, run))

    def after_batch(self, run: Run, archs: list[dict[str, Any]]) -> None:
        """Nothing: the driver reports how well its predictors ranked each batch."""

    def after_run(self, run: Run) -> None:
        """Say what racing saved (the CSV is the report)."""
        if run.stopped:
            raced = run.stopped[0].raced
            share = np.mean([s.samples / s.of for s in run.stopped])
            logger.info(
                "racing stopped %d sub-network(s) of this run after %.0f %% of the %s data on average (%s)",
                len(run.stopped),
                100 * share,
                raced,
                racing_path(run.store.path),
            )

    def search_result(self, run: Run) -> list[dict[str, Any]]:
        """The last ``population`` sub-networks measured (the reference's result)."""
        return [t.arch for t in run.study.trials[-self.settings.population :]]

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

    # -- settings ---------------------------------------------------------------------------------------------------
    def configure(self, key: str, value: Any) -> None:
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
            self._measurement, self._measured_with, self._rng = SubnetMeasurement(settings, config.dynas), key, None
        self.conf, self.settings, self._resolved_for = config, settings, _document(config)
        if metrics_changed:
            self._study = self._new_study()

    def load_search_results(self, path: str | os.PathLike) -> dict[tuple, dict[str, float]]:
        """Load a results CSV of this super-network (as a search resuming it would); returns `search_results`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"search results file not found: {str(path)!r}")
        self.open_results(path).replay(self.study)
        return self.search_results

    # -- properties -------------------------------------------------------------------------------------------------
    @property
    def supernet(self) -> Any:
        return self.settings.supernet

    @supernet.setter
    def supernet(self, name: str) -> None:
        self.configure("nas.dynas.supernet", name)

    @property
    def search_algo(self) -> str:
        """The reference's name for the evolutionary algorithm: `search_algorithm`, resolved."""
        return self.settings.algorithm.name

    @search_algo.setter
    def search_algo(self, name: str) -> None:
        self.search_algorithm = name

    @property
    def algorithm(self) -> Any:
        """The `AlgorithmSpec` the search runs: ``search_algorithm`` resolved for the objective count."""
        return self.settings.algorithm

    @property
    def population(self) -> int:
        return self.settings.population

    @population.setter
    def population(self, value: int) -> None:
        self.configure("nas.dynas.population", value)

    @property
    def inner_evals(self) -> int:
        return self.settings.inner_evals

    @property
    def results_csv_path(self) -> Path:
        return self.settings.results_csv_path

    @results_csv_path.setter
    def results_csv_path(self, path: str | os.PathLike) -> None:
        self.configure("nas.dynas.results_csv_path", str(path))

    @property
    def exact_metric_names(self) -> frozenset[str]:
        """Metrics the super-network computes exactly and cheaply (never predicted, never measured on a model)."""
        return frozenset(self.supernet.exact_metric_names)

    def export(
        self,
        out: str | os.PathLike,
        *,
        by: str = "knee",
        where: Any = (),
        res_save_path: str | None = None,
        formats: str | Sequence[str] = "pt2",
    ) -> tuple[Any, dict[str, Path]]:
        """Save a measured sub-network of this search (the ``where`` constraints, then ``by``: ``knee``,
        ``max:METRIC``, ``min:METRIC`` or ``#N``) into ``out``, with this agent's configuration: the files of
        `neural_nas.export.save_subnet` in ``formats`` (``pt2``, ``onnx``, ``torchscript``). Returns the `Choice`
        and the files written."""
        from neural_nas.export import export_pick

        path = self.results_path(res_save_path)
        metrics = self.settings.metric_names
        return export_pick(path, self.conf, out, by=by, where=where, metrics=metrics, formats=formats)

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


def _document(config: NASConfig) -> str:
    """The whole configuration, defaults filled in, as one comparable string."""
    return json.dumps(config.to_dict(), sort_keys=True, default=str)


def _measurement_key(config: NASConfig) -> str:
    """Everything measuring depends on: the ``nas.dynas`` section (super-network, metrics, data, weights, device,
    batches) and the seed, defaults filled in."""
    document = config.to_dict()["nas"]
    return json.dumps({"dynas": document["dynas"], "seed": document["search"]["seed"]}, sort_keys=True, default=str)
