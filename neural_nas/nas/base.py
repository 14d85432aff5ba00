"""NASBase: the public face of every approach (the seed document's interface) and the hooks a search runs on.

`search` is `neural_nas.nas.run.run_search`, the same for every approach: lock -> replay -> record the config ->
loop -> report. An approach fills in the hooks below, in the order a search calls them:

- `validate()`: every check of the configuration, before anything is opened;
- `measurer()`: ``arch -> Measured``, built on every rank (a `MeasurementError` is that architecture's failure);
- `race_front(run)`: None (the default), or the measured front each round's candidates race against; then the
  measurer is called ``measure(arch, front=front)`` and may return a `neural_nas.measurements.racing.Stopped`;
- `results_path(res_save_path)`, `study_of(path)`, `open_results(path)`: where the record lives, in memory and on
  disk (a `neural_nas.results.store.ResultsStore`);
- `search_budget()`: measurements in all, earlier ones included;
- `start_run(run)`, then `propose(run)`: propose architectures and hand them to ``run.measure`` until the budget is
  spent or nothing is left, then `after_batch(run, archs)` after each batch, `after_run(run)` and `search_result(run)`.

The defaults are the model-based search of the reference: a searcher (`neural_nas.searchers`) proposes
architectures of ``search_space``, one at a time; each is built by ``model_builder`` and measured by `estimate`, and
its score is fed back. Basic NAS adds train/eval functions; Dynamic NAS replaces the proposing and the measuring.
The reference's agent attributes are declared in `neural_nas.nas.attributes` (one column per approach).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neural_nas._log import quiet
from neural_nas._registry import Registry
from neural_nas.config import NASConfig
from neural_nas.config.schema import BY_PATH
from neural_nas.config.search_space import SearchSpace
from neural_nas.errors import ConfigError
from neural_nas.nas import attributes
from neural_nas.nas.executor import Measured
from neural_nas.nas.model_trial import measure_model
from neural_nas.results import write_atomic
from neural_nas.results.journal_store import JournalStore, read_results, replay_records
from neural_nas.results.reports import archive_reports, study_report
from neural_nas.results.study import Study, arch_key

if TYPE_CHECKING:
    from neural_nas.nas.run import Run
    from neural_nas.results.store import ResultsStore

logger = logging.getLogger("neural_nas")

nas_registry: Registry[type] = Registry("approach", "nas.approach")
nas_registry.__doc__ = (
    "Class decorator: ``@nas_registry('name')`` makes a NASBase subclass reachable as ``nas.approach: name``."
)

DEFAULT_MAX_TRIALS = BY_PATH["nas.search.max_trials"].unset
DEFAULT_SEARCHER = "bo"
RESULTS_DIR = "NASResults"
LOG_NAME = "results.jsonl"
# A searcher that keeps proposing measured architectures this many times in a row is stopped.
_MAX_REPEATS = 1000


class NASBase:
    """Base class of NAS approaches (see the module docstring for the hooks and their order)."""

    # Which column of `neural_nas.nas.attributes.TABLE` an approach's class takes (None: none).
    attribute_column: str | None = None
    title = "this approach"  # what messages call it
    budget_key = "nas.search.max_trials"  # the config key of `budget`, for messages
    metrics_key = "nas.search.metrics"  # the config key `agent.metrics = [...]` sets
    takes_searcher_objects = True  # `agent.search_algorithm = obj` with suggest()/get_feedback()
    progress_label = ("NAS trials", "trial")  # the progress bar's description and unit

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "attribute_column" in cls.__dict__ and cls.attribute_column is not None:
            attributes.install(cls, cls.attribute_column)
        if "_setup" in cls.__dict__:  # the hook of earlier versions: say what replaced it, never ignore it silently
            warnings.warn(
                f"{cls.__name__}._setup() is no longer called: prepare and check what measuring needs in measurer() "
                "(or start_run(run)); see docs/extending.md",
                FutureWarning,
                stacklevel=2,
            )

    def __init__(
        self,
        search_space: Mapping[str, Sequence[Any]] | None = None,
        model_builder: Callable[[dict], Any] | None = None,
    ) -> None:
        self.conf = NASConfig()  # approaches that take a config replace it
        self._search_space: SearchSpace | None = None
        self._model_builder: Callable[[dict], Any] | None = None
        self._search_algorithm: Any = None
        self._searcher: Any = None
        self._study: Study | None = None
        self._results_from: Path | None = None  # the results file the study holds (None: none searched yet)
        self.best_model_archs: list[dict[str, Any]] = []
        self.config_record: Path | None = None  # the ``config.yaml`` the last search wrote (None: it wrote none)
        if search_space is not None:
            self.search_space = search_space
        if model_builder is not None:
            self.model_builder = model_builder

    # -- the command line -------------------------------------------------------------------------------------------
    @classmethod
    def prepare_command_line(cls, config: NASConfig, output_dir: Path) -> str | None:
        """What ``neural-nas search`` calls before building the agent: point the results into ``output_dir`` and
        return the ``res_save_path`` for `search`; a ConfigError if this approach cannot run from a YAML file."""
        raise ConfigError(
            "nas.approach",
            config.nas.approach or "basic",
            "an approach that runs from a YAML file alone (dynas)",
            f"{cls.__name__} needs Python code: a model_builder (architecture dict -> torch.nn.Module) and usually "
            "train/eval functions, which a YAML file cannot provide. Run it from Python: "
            "NAS('config.yaml', search_space, model_builder).search() (see docs/basic_nas.md)",
        )

    # -- properties -------------------------------------------------------------------------------------------------
    @property
    def search_space(self) -> dict[str, list[Any]] | None:
        return None if self._search_space is None else self._search_space.as_dict()

    @search_space.setter
    def search_space(self, search_space: Mapping[str, Sequence[Any]]) -> None:
        self._search_space = SearchSpace(search_space, key="search_space")
        self._searcher = None

    @property
    def model_builder(self) -> Callable[[dict], Any] | None:
        return self._model_builder

    @model_builder.setter
    def model_builder(self, model_builder: Callable[[dict], Any]) -> None:
        if not callable(model_builder):
            raise ConfigError(
                "model_builder",
                model_builder,
                "a callable that takes an architecture dict and returns a torch.nn.Module",
            )
        self._model_builder = model_builder

    @property
    def search_algorithm(self) -> Any:
        """The searcher object in use, or the configured name (None: the default, `bo`)."""
        return self._search_algorithm if self._search_algorithm is not None else self.conf.nas.search.search_algorithm

    @search_algorithm.setter
    def search_algorithm(self, search_algorithm: Any) -> None:
        if isinstance(search_algorithm, str):
            self.configure("nas.search.search_algorithm", search_algorithm)  # an unknown name fails here
            self._search_algorithm = None
            return
        if not self.takes_searcher_objects:
            raise ConfigError(
                "search_algorithm",
                search_algorithm,
                "the name of a registered algorithm (see `neural-nas list`)",
                "searcher objects with suggest()/get_feedback() are for Basic NAS",
            )
        if not (
            callable(getattr(search_algorithm, "suggest", None))
            and callable(getattr(search_algorithm, "get_feedback", None))
        ):
            raise ConfigError(
                "search_algorithm",
                search_algorithm,
                "a registered name or an object with suggest() -> architecture dict and get_feedback(score)",
            )
        self._search_algorithm = search_algorithm
        self._searcher = None

    # -- the reference's agent attributes: each one is used by the next search() ------------------------------------
    @property
    def max_trials(self) -> int:
        return self.conf.resolved("nas.search.max_trials")

    @max_trials.setter
    def max_trials(self, value: int) -> None:
        self.configure("nas.search.max_trials", value)

    @property
    def seed(self) -> int:
        return self.conf.nas.search.seed

    @seed.setter
    def seed(self, value: int) -> None:
        self.configure("nas.search.seed", value)

    @property
    def metrics(self) -> list[str] | None:
        return self.metric_names

    @metrics.setter
    def metrics(self, names: list[str] | None) -> None:
        self.configure(self.metrics_key, names)

    @property
    def higher_is_better(self) -> list[bool]:
        directions = self.study.higher_is_better
        if directions is not None:
            return list(directions)
        configured = self.conf.nas.search.higher_is_better
        return [] if configured is None else list(configured)

    @higher_is_better.setter
    def higher_is_better(self, value: list[bool] | None) -> None:
        self.configure("nas.search.higher_is_better", value)

    def configure(self, key: str, value: Any) -> None:
        """Set one key of ``agent.conf`` (checked like any assignment), for the next search. How results are
        compared (metrics, directions) changes only while none is recorded: they were compared the old way."""
        if key in ("nas.search.metrics", "nas.search.higher_is_better"):
            if self._study is not None and len(self._study):
                raise ConfigError(
                    key,
                    value,
                    "set before the first result is recorded",
                    "recorded results keep their metrics and directions; use a new agent and results folder",
                )
            self.conf.set(key, value)
            self._study = None
            return
        if key == "nas.search.search_algorithm" and value is not None:
            from neural_nas.searchers import searcher_registry

            searcher_registry.canonical(value)  # fail now on an unknown name
        self.conf.set(key, value)
        self._searcher = None  # a searcher built from the registry takes its name and seed when it is built

    @property
    def search_results(self) -> dict[tuple, dict[str, float]]:
        """Architecture (its values in sorted-key order) -> metrics, in order of first evaluation."""
        return {arch_key(t.arch): dict(t.metrics) for t in self.study.trials}

    @search_results.setter
    def search_results(self, value: Any) -> None:
        raise ConfigError(
            "search_results",
            type(value).__name__,
            "read, not assigned (it is the record of the search)",
            "load earlier results with agent.load_search_results(path), or search again in the same folder to resume",
        )

    @property
    def study(self) -> Study:
        """The record of this search: trials, failures and the measured front (earlier results included)."""
        if self._study is None:
            self._study = self._new_study()
        return self._study

    @property
    def metric_names(self) -> list[str] | None:
        return self.study.metric_names

    # -- the search -------------------------------------------------------------------------------------------------
    def search(self, res_save_path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
        """Measure until the budget is spent (earlier results count); returns `search_result` (Basic NAS: the
        Pareto-optimal architectures)."""
        from neural_nas.nas.run import run_search

        return run_search(self, res_save_path)

    def validate(self) -> None:
        """Every check `search` makes of the configuration before it measures anything; a ConfigError names the first
        key that is wrong. ``neural-nas check-config`` runs exactly this. What a script may still give in Python (a
        search space, a model builder, train/eval functions) is checked here when the configuration gives it."""
        if self._search_space is not None or self.conf.nas.search.search_space is not None:
            self._make_searcher()  # checks the search space as well
        elif isinstance(self._search_algorithm or self.conf.nas.search.search_algorithm, str):
            from neural_nas.searchers import searcher_registry

            searcher_registry.canonical(self._search_algorithm or self.conf.nas.search.search_algorithm)

    def init_search_cfg(self, config: Any) -> None:
        """The reference's set-up call of a custom approach (``self.init_search_cfg(self.conf.nas)``): adopt the
        config (a `NASConfig` or its ``nas`` section) and check its search space and search algorithm now."""
        config = config if isinstance(config, NASConfig) else getattr(config, "_config", None)
        if not isinstance(config, NASConfig):
            raise ConfigError("init_search_cfg", config, "a NASConfig or its `nas` section (config.nas)")
        self.conf, self._study, self._searcher = config, None, None
        self._require_search_space()
        self._make_searcher()

    # -- hooks of a search (the model-based defaults) ---------------------------------------------------------------
    def measures_across_ranks(self) -> bool:
        """Whether the search measures across the ranks of a launched job (torchrun, mpirun)."""
        return False

    def race_front(self, run: Run) -> Any:
        """The `Front` the next round's candidates race against, or None: measured in full (no racing)."""
        return None

    def measurer(self) -> Callable[[dict[str, Any]], Measured]:
        """``arch -> Measured``: build the model, count its parameters, `estimate` it."""
        self._require_search_space()
        builder = self._model_builder
        if builder is None:
            raise ConfigError(
                "model_builder",
                None,
                "a callable that takes an architecture dict and returns a "
                "torch.nn.Module (pass it to the constructor or set agent.model_builder)",
            )
        return lambda arch: measure_model(arch, builder, self.estimate, self.study.metric_names)

    def results_path(self, res_save_path: str | os.PathLike | None = None) -> Path:
        """The results file `search(res_save_path)` reads and appends to."""
        return Path(res_save_path if res_save_path is not None else os.getcwd()) / RESULTS_DIR / LOG_NAME

    def study_of(self, path: Path) -> Study:
        """The study a search into ``path`` records in: this agent's, unless it holds another file's results."""
        path = path.resolve()
        if self._results_from is not None and self._results_from != path:
            self._study = None  # another file: its own record
        self._results_from = path
        return self.study

    def open_results(self, path: Path) -> ResultsStore:
        return JournalStore(path, self._require_search_space())

    def search_budget(self) -> int:
        return self.max_trials

    def start_run(self, run: Run) -> None:
        """Tidy the reports folder (we hold its lock) before the first new trial."""
        for tmp in run.store.path.parent.glob(".*.tmp*"):  # left by a write_atomic that a kill interrupted
            tmp.unlink()
        archive_reports(run.store.path.parent)

    def propose(self, run: Run) -> None:
        """Ask the searcher for one architecture at a time; feed back each one's score (the sum of its sign-adjusted
        metrics, as the reference); a proposal measured already is answered from the record."""
        study, space, repeats = run.study, self._require_search_space(), 0
        self._searcher = self._make_searcher()
        while run.remaining():
            if sum(space.contains(a) for a in self._recorded_archs(study)) >= space.size:
                logger.info("search space exhausted: all %d architectures are measured (or failed)", space.size)
                return
            arch = self.select_model_arch()
            if arch is None:
                logger.info("the search algorithm has nothing left to propose; stopping after %d trials", len(study))
                return
            if not isinstance(arch, Mapping) or not space.contains(arch):
                raise ConfigError(
                    "search_algorithm", arch, f"a proposer of architectures from the search space {space.as_dict()}"
                )
            if study.is_done(arch):  # never spend a trial re-measuring (or re-failing)
                repeats += 1
                if repeats >= _MAX_REPEATS:
                    logger.warning(
                        "the search algorithm proposed only measured architectures %d times in a row; stopping",
                        repeats,
                    )
                    return
            else:
                repeats = 0
                run.measure([arch])
            self._searcher.get_feedback(study.scalar(study.metrics_of(arch)))

    def after_batch(self, run: Run, archs: list[dict[str, Any]]) -> None:
        """A report of the trials so far after each measured architecture (``Trial_<n>_results.txt``)."""
        if any(run.study.get(a) is not None for a in archs):
            write_atomic(run.store.path.parent / f"Trial_{len(run.study)}_results.txt", study_report(run.study))

    def after_run(self, run: Run) -> None:
        write_atomic(run.store.path.parent / "Final_results.txt", study_report(run.study))

    def search_result(self, run: Run) -> list[dict[str, Any]]:
        return self.best_model_archs

    # -- the model-based search's parts -----------------------------------------------------------------------------
    def select_model_arch(self) -> dict[str, Any] | None:
        """The next architecture proposed by the search algorithm (None when it has nothing left)."""
        if self._searcher is None:
            self._searcher = self._make_searcher()
        return self._searcher.suggest()

    def estimate(self, model: Any) -> Any:
        """Measure one model; returns a scalar, a list or a dict of metrics. Implemented by each approach."""
        raise NotImplementedError(f"{type(self).__name__} must implement estimate(model)")

    @staticmethod
    def _recorded_archs(study: Study) -> list[dict[str, Any]]:
        return [t.arch for t in study.trials] + study.failures

    def _require_search_space(self) -> SearchSpace:
        if self._search_space is None:
            configured = self.conf.nas.search.search_space
            if configured is None:
                raise ConfigError(
                    "nas.search.search_space",
                    None,
                    "a mapping {name: [choice, ...]} (set it in the config or pass search_space= to the constructor)",
                )
            self._search_space = SearchSpace(configured)
        try:
            json.dumps(self._search_space.as_dict())
        except TypeError as err:
            raise ConfigError(
                "search_space",
                self._search_space.as_dict(),
                "choices that can be stored in JSON (numbers, strings, booleans, null and lists of them)",
            ) from err
        return self._search_space

    def _make_searcher(self) -> Any:
        if self._search_algorithm is not None and not isinstance(self._search_algorithm, str):
            return self._search_algorithm
        from neural_nas.searchers import searcher_registry

        name = self._search_algorithm or self.conf.nas.search.search_algorithm
        if not name:
            name = DEFAULT_SEARCHER
            logger.info("nas.search.search_algorithm is unset: using the default, %r (Bayesian optimisation)", name)
        cls = searcher_registry.get(name)
        return cls(self._require_search_space().as_dict(), seed=self.conf.nas.search.seed)

    # -- what a run is and what it has done (its record) ------------------------------------------------------------
    def resolved_config(self) -> dict[str, Any]:
        """The configuration this agent runs, with every value it uses resolved (never null where a default is used):
        what ``config.yaml`` beside the results records. A searcher given as an object is not a config value (null)."""
        # JSON round trip: tuples (a search space) become lists, which YAML writes plainly.
        out = json.loads(json.dumps(self.conf.to_dict()))
        out["nas"].pop("dynas", None)  # Dynamic NAS's section: not used here
        search = out["nas"]["search"]
        search["max_trials"] = self.max_trials
        if self._search_space is not None:
            search["search_space"] = json.loads(json.dumps(self._search_space.as_dict()))
        name = self._search_algorithm if self._search_algorithm is not None else search["search_algorithm"]
        if name is None or isinstance(name, str):
            from neural_nas.searchers import searcher_registry

            search["search_algorithm"] = searcher_registry.canonical(name or DEFAULT_SEARCHER)
        return out

    def progress(self, res_save_path: str | os.PathLike | None = None) -> tuple[int, int]:
        """``(done, budget)``: the measurements already recorded (failed ones included) in the results file and the
        budget of the search. Only reads the file (no lock, nothing written), so it can be asked before `search`."""
        path = self.results_path(res_save_path)
        study = self._new_study()
        if path.is_file():
            with quiet():  # the search says the same when it resumes
                self.open_results(path).replay(study, retry_failed=self.conf.nas.search.retry_failed)
        return study.spent(), self.search_budget()

    def _new_study(self) -> Study:
        return Study(self.conf.nas.search.metrics, self.conf.nas.search.higher_is_better)

    def find_best_model_archs(self) -> list[dict[str, Any]]:
        """The Pareto-optimal architectures among the results, in order of first evaluation."""
        self.best_model_archs = [t.arch for t in self.study.front()]
        return self.best_model_archs

    def dump_search_results(self, path: str | os.PathLike) -> None:
        """Write the results as JSON (atomically): metric names, directions and one record per architecture."""
        document = {
            "format": "neural_nas.search_results/1",
            "metrics": self.metric_names,
            "higher_is_better": self.higher_is_better,
            "results": [t.as_record() for t in self.study.trials],
        }
        write_atomic(path, json.dumps(document, indent=1, allow_nan=False) + "\n")

    def load_search_results(self, path: str | os.PathLike) -> dict[tuple, dict[str, float]]:
        """Load results from `dump_search_results` (JSON) or a search's ``results.jsonl``; returns `search_results`.

        Pickled files (the reference's ``.npy``) are refused: loading a pickle can execute arbitrary code.
        """
        path = Path(path)
        records = read_results(path)
        replay_records(
            self.study, records, self._search_space, source=path, retry_failed=self.conf.nas.search.retry_failed
        )
        return self.search_results
