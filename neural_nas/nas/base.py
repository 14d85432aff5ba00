"""NASBase: the public face of every approach (the seed document's interface) and the model-based search loop.

The loop is propose -> build -> estimate -> record -> feed back -> persist. Approaches that measure models subclass
NASBase and implement `estimate` (Basic NAS adds train/eval functions); approaches of another shape (Dynamic NAS)
replace `search`. The record of a search is a `Study` (`nas.study`); ``<res_save_path>/NASResults/results.jsonl``
is its durable copy (`results.journal_store`), replayed on resume so nothing measured is lost or measured twice.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from neural_nas._log import quiet
from neural_nas._registry import Registry
from neural_nas.config import NASConfig
from neural_nas.errors import ConfigError, MeasurementError, ResultsFileError
from neural_nas.nas.model_trial import measure_model
from neural_nas.nas.search_space import SearchSpace
from neural_nas.nas.study import FailureGuard, Study, Trial, arch_key
from neural_nas.results import Journal, write_atomic
from neural_nas.results.config_record import record_config
from neural_nas.results.journal_store import JournalStore, replay_records
from neural_nas.results.lock import ResultsLock
from neural_nas.results.reports import archive_reports, study_report

logger = logging.getLogger("neural_nas")

nas_registry: Registry[type] = Registry("approach", "nas.approach")
nas_registry.__doc__ = (
    "Class decorator: ``@nas_registry('name')`` makes a NASBase subclass reachable as ``nas.approach: name``."
)

DEFAULT_MAX_TRIALS = 3
DEFAULT_SEARCHER = "bo"
RESULTS_DIR = "NASResults"
LOG_NAME = "results.jsonl"
# A searcher that keeps proposing measured architectures this many times in a row is stopped.
_MAX_REPEATS = 1000


class NASBase:
    """Base class of NAS approaches (see the module docstring for the loop and its hooks)."""

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
        self.best_model_archs: list[dict[str, Any]] = []
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

    def results_path(self, res_save_path: str | os.PathLike | None = None) -> Path:
        """The results file `search(res_save_path)` reads and appends to."""
        return Path(res_save_path if res_save_path is not None else os.getcwd()) / RESULTS_DIR / LOG_NAME

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
            from neural_nas.searchers import searcher_registry

            searcher_registry.canonical(search_algorithm)  # fail now on an unknown name
        elif not (
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
        return self.conf.nas.search.max_trials or DEFAULT_MAX_TRIALS

    @max_trials.setter
    def max_trials(self, value: int) -> None:
        self.conf.nas.search.max_trials = value

    @property
    def seed(self) -> int:
        return self.conf.nas.search.seed

    @seed.setter
    def seed(self, value: int) -> None:
        self.conf.nas.search.seed = value
        self._searcher = None  # a searcher built from the registry takes the seed when it is built

    @property
    def metrics(self) -> list[str] | None:
        return self.metric_names

    @metrics.setter
    def metrics(self, names: list[str] | None) -> None:
        self._set_before_results("nas.search.metrics", names)

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

    def _set_before_results(self, key: str, value: Any) -> None:
        """Change how results are compared: only while none is recorded (they were compared the old way)."""
        if self._study is not None and len(self._study):
            raise ConfigError(
                key,
                value,
                "set before the first result is recorded",
                "recorded results keep their metrics and directions; use a new agent and results folder",
            )
        self.conf.set(key, value)
        self._study = None

    @property
    def study(self) -> Study:
        """The record of this search: trials, failures and the measured front (earlier results included)."""
        if self._study is None:
            self._study = self._new_study()
        return self._study

    @property
    def metric_names(self) -> list[str] | None:
        return self.study.metric_names

    @property
    def higher_is_better(self) -> list[bool]:
        directions = self.study.higher_is_better
        if directions is not None:
            return list(directions)
        configured = self.conf.nas.search.higher_is_better
        return [] if configured is None else list(configured)

    @higher_is_better.setter
    def higher_is_better(self, value: list[bool] | None) -> None:
        self._set_before_results("nas.search.higher_is_better", value)

    # -- the loop ---------------------------------------------------------------------------------------------------
    def select_model_arch(self) -> dict[str, Any] | None:
        """The next architecture proposed by the search algorithm (None when it has nothing left)."""
        if self._searcher is None:
            self._searcher = self._make_searcher()
        return self._searcher.suggest()

    def estimate(self, model: Any) -> Any:
        """Measure one model; returns a scalar, a list or a dict of metrics. Implemented by each approach."""
        raise NotImplementedError(f"{type(self).__name__} must implement estimate(model)")

    def validate(self) -> None:
        """Every check `search` makes of the configuration before it measures anything; a ConfigError names the first
        key that is wrong. ``neural-nas check-config`` runs exactly this. What a script may still give in Python (a
        search space, a model builder, train/eval functions) is checked here when the configuration gives it."""
        if self._search_space is not None or self.conf.nas.search.search_space is not None:
            self._make_searcher()  # checks the search space as well
        elif isinstance(self._search_algorithm or self.conf.nas.search.search_algorithm, str):
            from neural_nas.searchers import searcher_registry

            searcher_registry.canonical(self._search_algorithm or self.conf.nas.search.search_algorithm)

    def search(self, res_save_path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
        """Run trials until `max_trials` architectures are measured (earlier results count); return the Pareto front."""
        self.validate()
        self._setup()
        space = self._require_search_space()
        study = self.study  # a higher_is_better that does not match nas.search.metrics fails now
        if self._model_builder is None:
            raise ConfigError(
                "model_builder",
                None,
                "a callable that takes an architecture dict and returns a "
                "torch.nn.Module (pass it to the constructor or set agent.model_builder)",
            )
        path = self.results_path(res_save_path)
        for folder in (path.parent.parent, path.parent):
            if folder.exists() and not folder.is_dir():
                raise ConfigError(
                    "res_save_path", str(res_save_path), "a folder to hold NASResults/", f"{folder} is a file"
                )
        with ResultsLock(path):  # one search per results folder; the OS frees it on any exit
            store = self._open_results(path, space)
            self._run_trials(store, path.parent, space)
            self.find_best_model_archs()
            write_atomic(path.parent / "Final_results.txt", self._report())
        logger.info(
            "search done: %d architectures measured, %d on the Pareto front%s; results in %s",
            len(study),
            len(self.best_model_archs),
            f", {len(study.failures)} failed" if study.failures else "",
            path.parent,
        )
        return self.best_model_archs

    def _run_trials(self, store: JournalStore, results_dir: Path, space: SearchSpace) -> None:
        from tqdm.auto import tqdm

        study = self.study
        max_trials = self.max_trials
        self._searcher = self._make_searcher()
        search = self.conf.nas.search
        failures = FailureGuard(search.on_error == "skip", search.max_consecutive_failures, str(store.path))
        repeats = 0
        if study.spent() >= max_trials:
            logger.info(nothing_to_do(store.path, study.spent(), max_trials, self.budget_key))
        with tqdm(
            total=max_trials, initial=min(study.spent(), max_trials), desc="NAS trials", unit="trial", disable=None
        ) as bar:
            while study.spent() < max_trials:  # a failed trial is a trial: it counts toward max_trials
                done = sum(space.contains(t.arch) for t in study.trials)
                done += sum(space.contains(a) for a in study.failures)
                if done >= space.size:
                    logger.info("search space exhausted: all %d architectures are measured (or failed)", space.size)
                    break
                arch = self.select_model_arch()
                if arch is None:
                    logger.info(
                        "the search algorithm has nothing left to propose; stopping after %d trials", len(study)
                    )
                    break
                if not isinstance(arch, Mapping) or not space.contains(arch):
                    raise ConfigError(
                        "search_algorithm", arch, f"a proposer of architectures from the search space {space.as_dict()}"
                    )
                if study.is_done(arch):  # never spend a trial re-measuring (or re-failing)
                    self._searcher.get_feedback(study.scalar(study.metrics_of(arch)))
                    repeats += 1
                    if repeats >= _MAX_REPEATS:
                        logger.warning(
                            "the search algorithm proposed only measured architectures %d times in a row; stopping",
                            repeats,
                        )
                        break
                    continue
                repeats = 0
                try:
                    trial = self._run_trial(dict(arch))
                except MeasurementError as err:
                    if not failures.skip:
                        raise  # everything measured before it is already on disk
                    store.append_failure(arch, err.reason)  # on disk first: never measured again, even after a kill
                    study.add_failure(arch)
                    bar.update(1)
                    failures.failed(arch, err.reason)
                    self._searcher.get_feedback(study.scalar(study.failure_metrics()))
                    continue
                failures.succeeded()
                store.append_trial(trial)  # on disk before it counts
                study.add_trial(trial.arch, trial.metrics, trial.params)
                write_atomic(results_dir / f"Trial_{len(study)}_results.txt", self._report())
                self._searcher.get_feedback(study.scalar(trial.metrics))
                bar.update(1)

    def init_search_cfg(self, config: Any) -> None:
        """The reference's set-up call of a custom approach (``self.init_search_cfg(self.conf.nas)``): adopt the
        config (a `NASConfig` or its ``nas`` section) and check its search space and search algorithm now."""
        config = config if isinstance(config, NASConfig) else getattr(config, "_config", None)
        if not isinstance(config, NASConfig):
            raise ConfigError("init_search_cfg", config, "a NASConfig or its `nas` section (config.nas)")
        self.conf, self._study, self._searcher = config, None, None
        self._require_search_space()
        self._make_searcher()

    def _setup(self) -> None:
        """Hook: make everything the trials need ready (and validated) before the first one runs."""

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

    def _run_trial(self, arch: dict[str, Any]) -> Trial:
        trial = measure_model(arch, self._model_builder, self.estimate, self.study.metric_names)
        if self.study.metric_names is None:
            self.study.define_metrics(list(trial.metrics))  # a higher_is_better of another length fails here
        return trial

    # -- results ----------------------------------------------------------------------------------------------------
    def _open_results(self, path: Path, space: SearchSpace) -> JournalStore:
        """Load earlier results (a bad file fails here, before anything is moved or written), then tidy up."""
        store = self._results_store(path)
        loaded = store.replay(self.study, retry_failed=self.conf.nas.search.retry_failed)
        if loaded:
            logger.info("resuming: %d earlier result(s) loaded from %s", loaded, path)
        for tmp in path.parent.glob(".*.tmp*"):  # left by a write_atomic that a kill interrupted; we hold the lock
            tmp.unlink()
        archive_reports(path.parent)
        if self.study.spent() < self.max_trials:  # a run that measures nothing leaves the record alone
            record_config(path.parent, self.resolved_config(), beside_results=self.study.spent() > 0)
        return store

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
        """``(done, budget)``: the architectures already measured (or failed) in the results file and the budget of
        the search. Only reads the file (no lock, nothing written), so it can be asked before `search`."""
        path = self.results_path(res_save_path)
        study = self._new_study()
        if path.is_file():
            with quiet():  # the search says the same when it resumes
                self._results_store(path).replay(study, retry_failed=self.conf.nas.search.retry_failed)
        return study.spent(), self._budget()

    def _new_study(self) -> Study:
        return Study(self.conf.nas.search.metrics, self.conf.nas.search.higher_is_better)

    def _results_store(self, path: Path) -> Any:
        return JournalStore(path, self._require_search_space())

    budget_key = "nas.search.max_trials"  # the config key of `_budget`, for messages

    def _budget(self) -> int:
        return self.max_trials

    def _report(self) -> str:
        return study_report(self.study)

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
        if not path.is_file():
            raise FileNotFoundError(f"search results file not found: {str(path)!r}")
        if path.suffix in (".npy", ".npz", ".pkl", ".pickle"):
            raise ResultsFileError(
                str(path),
                path.suffix,
                "a JSON (.json) or JSON-lines (.jsonl) results file",
                "pickled files are not loaded because unpickling can execute code",
            )
        if path.suffix == ".jsonl":
            records = Journal(path).read()
        else:
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ResultsFileError(
                    str(path), "<unparsable>", "a JSON document written by dump_search_results", str(err)
                ) from err
            if not isinstance(document, Mapping) or not isinstance(document.get("results"), list):
                raise ResultsFileError(str(path), type(document).__name__, "a JSON object with a 'results' list")
            records = document["results"]
        replay_records(
            self.study, records, self._search_space, source=path, retry_failed=self.conf.nas.search.retry_failed
        )
        return self.search_results


def nothing_to_do(path: Path, done: int, budget: int, budget_key: str) -> str:
    """What a search whose results file already meets its budget tells the user, and how to go on."""
    short = budget_key.removeprefix("nas.")
    return (
        f"nothing to measure: {path} already holds {done} measured architecture(s) and {budget_key} is {budget}. "
        f"To measure more, raise it (e.g. --set {short}={max(done, budget) + 100}); to start afresh, use another "
        "results path (or --output-dir)"
    )
