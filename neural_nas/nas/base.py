"""NASBase: the propose -> build -> estimate -> record -> feedback -> persist loop, written once.

Approaches subclass it and override hooks: `estimate` (how one model is measured) and `_setup` (what must be ready
before the first trial). The log in ``<res_save_path>/NASResults/results.jsonl`` is the only source of truth: a new
search in the same place replays it, so nothing measured is lost or measured twice.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neural_nas._registry import Registry
from neural_nas.config import NASConfig
from neural_nas.errors import ConfigError, MeasurementError, TooManyFailuresError, measuring
from neural_nas.nas.pareto import pareto_front, sign_adjust
from neural_nas.nas.search_space import SearchSpace
from neural_nas.results import Journal, write_atomic
from neural_nas.results.lock import ResultsLock
from neural_nas.results.reports import archive_reports, format_report

logger = logging.getLogger("neural_nas")

nas_registry: Registry[type] = Registry("approach", "nas.approach")
nas_registry.__doc__ = (
    "Class decorator: ``@nas_registry('name')`` makes a NASBase subclass reachable as ``nas.approach: name``."
)

DEFAULT_MAX_TRIALS = 3
RESULTS_DIR = "NASResults"
LOG_NAME = "results.jsonl"
# A searcher that keeps proposing measured architectures this many times in a row is stopped.
_MAX_REPEATS = 1000


@dataclass
class Trial:
    """One measured architecture."""

    arch: dict[str, Any]
    metrics: dict[str, float]
    params: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {"arch": self.arch, "metrics": self.metrics, "params": self.params}


def timestamp() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


class FailureGuard:
    """Applies ``nas.search.on_error``: counts failed measurements in a row and stops the search at the limit."""

    def __init__(self, conf: NASConfig, record: str) -> None:
        self.skip = conf.nas.search.on_error == "skip"
        self.limit = conf.nas.search.max_consecutive_failures
        self.record = record
        self.in_a_row: list[tuple[Any, str]] = []

    def failed(self, arch: Any, reason: str) -> None:
        logger.warning(
            "measuring %r failed (%s); recorded in %s and skipped (on_error: skip)", arch, reason, self.record
        )
        self.in_a_row.append((arch, reason))
        if len(self.in_a_row) >= self.limit:
            raise TooManyFailuresError(self.in_a_row, "nas.search.max_consecutive_failures", self.record)

    def succeeded(self) -> None:
        self.in_a_row = []


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def arch_key(arch: Mapping[str, Any]) -> tuple[Any, ...]:
    """The identity of an architecture: its values in sorted-key order (lists frozen to tuples)."""
    return tuple(_freeze(arch[k]) for k in sorted(arch))


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
        self._trials: dict[tuple, Trial] = {}
        self._failed: dict[tuple, dict[str, Any]] = {}  # architectures whose measurement failed (on_error: skip)
        self._metric_names: list[str] | None = None
        self.best_model_archs: list[dict[str, Any]] = []
        if search_space is not None:
            self.search_space = search_space
        if model_builder is not None:
            self.model_builder = model_builder

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

    @property
    def search_results(self) -> dict[tuple, dict[str, float]]:
        """Architecture (its values in sorted-key order) -> metrics, in order of first evaluation."""
        return {k: dict(t.metrics) for k, t in self._trials.items()}

    @property
    def metric_names(self) -> list[str] | None:
        return self._metric_names or self.conf.nas.search.metrics

    @property
    def higher_is_better(self) -> list[bool]:
        names = self.metric_names or []
        configured = self.conf.nas.search.higher_is_better
        if configured is None:
            return [True] * len(names)
        if names and len(configured) != len(names):
            raise ConfigError(
                "nas.search.higher_is_better",
                configured,
                f"a list of {len(names)} booleans, one per metric ({', '.join(names)})",
            )
        return list(configured)

    # -- the loop ---------------------------------------------------------------------------------------------------
    def select_model_arch(self) -> dict[str, Any] | None:
        """The next architecture proposed by the search algorithm (None when it has nothing left)."""
        if self._searcher is None:
            self._searcher = self._make_searcher()
        return self._searcher.suggest()

    def estimate(self, model: Any) -> Any:
        """Measure one model; returns a scalar, a list or a dict of metrics. Implemented by each approach."""
        raise NotImplementedError(f"{type(self).__name__} must implement estimate(model)")

    def search(self, res_save_path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
        """Run trials until `max_trials` architectures are measured (earlier results count); return the Pareto front."""
        self._setup()
        space = self._require_search_space()
        self.higher_is_better  # noqa: B018 - a length that does not match nas.search.metrics fails now
        if self._model_builder is None:
            raise ConfigError(
                "model_builder",
                None,
                "a callable that takes an architecture dict and returns a "
                "torch.nn.Module (pass it to the constructor or set agent.model_builder)",
            )
        results_dir = Path(res_save_path if res_save_path is not None else os.getcwd()) / RESULTS_DIR
        for folder in (results_dir.parent, results_dir):
            if folder.exists() and not folder.is_dir():
                raise ConfigError(
                    "res_save_path", str(res_save_path), "a folder to hold NASResults/", f"{folder} is a file"
                )
        with ResultsLock(results_dir / LOG_NAME):  # one search per results folder; the OS frees it on any exit
            journal = self._open_results(results_dir, space)
            self._run_trials(journal, results_dir, space)
            self.find_best_model_archs()
            write_atomic(results_dir / "Final_results.txt", self._report())
        logger.info(
            "search done: %d architectures measured, %d on the Pareto front%s; results in %s",
            len(self._trials),
            len(self.best_model_archs),
            f", {len(self._failed)} failed" if self._failed else "",
            results_dir,
        )
        return self.best_model_archs

    def _run_trials(self, journal: Journal, results_dir: Path, space: SearchSpace) -> None:
        from tqdm.auto import tqdm

        max_trials = self.conf.nas.search.max_trials or DEFAULT_MAX_TRIALS
        self._searcher = self._make_searcher()
        failures = FailureGuard(self.conf, str(journal.path))
        repeats = 0
        with tqdm(
            total=max_trials, initial=min(self._spent(), max_trials), desc="NAS trials", unit="trial", disable=None
        ) as bar:
            while self._spent() < max_trials:  # a failed trial is a trial: it counts toward max_trials
                done = {k for k, t in self._trials.items() if space.contains(t.arch)}
                done |= {k for k, a in self._failed.items() if space.contains(a)}
                if len(done) >= space.size:
                    logger.info("search space exhausted: all %d architectures are measured (or failed)", space.size)
                    break
                arch = self.select_model_arch()
                if arch is None:
                    logger.info(
                        "the search algorithm has nothing left to propose; stopping after %d trials", len(self._trials)
                    )
                    break
                if not isinstance(arch, Mapping) or not space.contains(arch):
                    raise ConfigError(
                        "search_algorithm", arch, f"a proposer of architectures from the search space {space.as_dict()}"
                    )
                key = arch_key(arch)
                known = self._trials.get(key)
                if known is not None or key in self._failed:  # never spend a trial re-measuring (or re-failing)
                    self._searcher.get_feedback(self._score(known.metrics) if known else self._failure_score())
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
                    self._failed[key] = dict(arch)
                    # On disk before anything else: never measured again, even after a kill.
                    journal.append({"arch": dict(arch), "error": err.reason, "time": timestamp()})
                    bar.update(1)
                    failures.failed(arch, err.reason)
                    self._searcher.get_feedback(self._failure_score())
                    continue
                failures.succeeded()
                self._trials[key] = trial
                journal.append({**trial.as_record(), "time": timestamp()})
                write_atomic(results_dir / f"Trial_{len(self._trials)}_results.txt", self._report())
                self._searcher.get_feedback(self._score(trial.metrics))
                bar.update(1)

    def _spent(self) -> int:
        """Trials spent: architectures measured plus those whose measurement failed (on_error: skip)."""
        return len(self._trials.keys() | self._failed.keys())

    def _failure_score(self) -> float:
        """What the searcher is told about a failed architecture: the worst score measured so far (0 if none)."""
        scores = [self._score(t.metrics) for t in self._trials.values()]
        return min(scores) if scores else 0.0

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
            name = "bo"
            logger.info("nas.search.search_algorithm is unset: using the default, 'bo' (Bayesian optimisation)")
        cls = searcher_registry.get(name)
        return cls(self._require_search_space().as_dict(), seed=self.conf.nas.search.seed)

    def _run_trial(self, arch: dict[str, Any]) -> Trial:
        import torch

        with measuring(arch):
            model = self._model_builder(arch)
        if not isinstance(model, torch.nn.Module):
            raise ConfigError(
                "model_builder",
                type(model).__name__,
                f"a callable returning a torch.nn.Module (it returned a {type(model).__name__} for {arch!r})",
            )
        params = sum(p.numel() for p in model.parameters())
        with measuring(arch):
            result = self.estimate(model)
        return Trial(arch, self._normalize_metrics(result, arch), params)

    def _normalize_metrics(self, result: Any, arch: Mapping[str, Any]) -> dict[str, float]:
        """Scalar, list or dict -> ``{name: float}`` in the configured order; NaN/inf and mismatches are errors."""
        names = self.metric_names
        if isinstance(result, Mapping):
            given = list(result)
            if names is None:
                names = [str(n) for n in given]
            elif sorted(map(str, given)) != sorted(names):
                raise MeasurementError(
                    arch,
                    f"the evaluation returned metrics {given}, but the configured metrics "
                    f"(nas.search.metrics) are {names}",
                )
            values = [result[n] for n in names]
        else:
            values = list(result) if isinstance(result, (list, tuple)) else [result]
            if names is None:
                names = ["metric"] if len(values) == 1 else [f"metric_{i}" for i in range(len(values))]
            elif len(values) != len(names):
                raise MeasurementError(
                    arch,
                    f"the evaluation returned {len(values)} value(s) {values!r}, but "
                    f"{len(names)} metrics are configured (nas.search.metrics: {names})",
                )
        floats = []
        for name, value in zip(names, values):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise MeasurementError(arch, f"metric {name!r} is {value!r}, not a number") from None
            if not math.isfinite(number):
                raise MeasurementError(arch, f"metric {name!r} is {number}")
            floats.append(number)
        if self._metric_names is None:
            self._metric_names = list(names)
            self.higher_is_better  # noqa: B018 - validates the length against the metrics now known
        return dict(zip(names, floats))

    def _score(self, metrics: Mapping[str, float]) -> float:
        """The one scalar fed back to the searcher (the reference's): the sum of the sign-adjusted metrics."""
        return float(sign_adjust([list(metrics.values())], self.higher_is_better).sum())

    # -- results ----------------------------------------------------------------------------------------------------
    def _open_results(self, results_dir: Path, space: SearchSpace) -> Journal:
        """Load earlier results (a bad file fails here, before anything is moved or written), then tidy up."""
        journal = Journal(results_dir / LOG_NAME)
        failed_before = len(self._failed)
        loaded = self._add_records(journal.read(), space, source=journal.path)
        if loaded:
            logger.info("resuming: %d earlier result(s) loaded from %s", loaded, journal.path)
        if len(self._failed) > failed_before:
            logger.info(
                "%d architecture(s) recorded as failed in %s are not measured again (nas.search.retry_failed: true "
                "retries them)",
                len(self._failed) - failed_before,
                journal.path,
            )
        for tmp in results_dir.glob(".*.tmp*"):  # left by a write_atomic that a kill interrupted; we hold the lock
            tmp.unlink()
        archive_reports(results_dir)
        write_atomic(results_dir / "config.yaml", self._resolved_config_yaml())
        return journal

    def _resolved_config_yaml(self) -> str:
        import yaml

        # JSON round trip: tuples in the search space become lists, which safe_dump can write.
        return yaml.safe_dump(json.loads(json.dumps(self.conf.to_dict())), sort_keys=False)

    def _add_records(self, records: Sequence[Mapping[str, Any]], space: SearchSpace | None, *, source: Any) -> int:
        """Merge stored records into the results; returns how many were new."""
        added = skipped = 0
        for number, record in enumerate(records, start=1):
            failure = isinstance(record, Mapping) and "error" in record and "metrics" not in record
            if (
                not isinstance(record, Mapping)
                or not isinstance(record.get("arch"), Mapping)
                or not (failure or isinstance(record.get("metrics"), Mapping))
            ):
                raise ConfigError(
                    f"{source} record {number}",
                    record,
                    "an object with 'arch' and 'metrics' mappings (or 'arch' and 'error' for a failed measurement)",
                )
            arch = dict(record["arch"])
            if space is not None:
                arch = self._match_space(arch, space)
                if arch is None:
                    skipped += 1
                    continue
            if failure:
                if not self.conf.nas.search.retry_failed:
                    self._failed.setdefault(arch_key(arch), arch)
                continue
            bad = {n: v for n, v in record["metrics"].items() if not _is_finite_number(v)}
            if bad:
                raise ConfigError(f"{source} record {number}", record, "finite numbers as metric values", f"got {bad}")
            names = list(record["metrics"])
            if self.metric_names is not None and names != list(self.metric_names):
                raise ConfigError(
                    "nas.search.metrics",
                    self.metric_names,
                    f"the metrics of the earlier results in {source} ({names}), or a new results folder",
                )
            self._metric_names = self._metric_names or names
            key = arch_key(arch)
            if key not in self._trials:
                self._trials[key] = Trial(
                    arch, {n: float(v) for n, v in record["metrics"].items()}, record.get("params")
                )
                added += 1
        if skipped:
            logger.warning(
                "%d earlier result(s) in %s are outside the current search space; kept on disk, not used",
                skipped,
                source,
            )
        return added

    @staticmethod
    def _match_space(arch: Mapping[str, Any], space: SearchSpace) -> dict[str, Any] | None:
        """Map stored (JSON) values back to the search space's own choices; None if the architecture is not in it."""
        if set(arch) != set(space.names):
            return None
        out = {}
        for name, choices in zip(space.names, space.choices):
            stored = json.dumps(arch[name], sort_keys=True)
            match = [c for c in choices if json.dumps(c, sort_keys=True) == stored]
            if not match:
                return None
            out[name] = match[0]
        return out

    def _report(self) -> str:
        trials = list(self._trials.values())
        best = [trials[i] for i in self._front_indices(trials)]
        best.sort(key=lambda t: -self._score(t.metrics))
        failed = [{"arch": a} for k, a in self._failed.items() if k not in self._trials]
        return format_report(
            [t.as_record() for t in trials], [t.as_record() for t in best], self.higher_is_better, failed
        )

    def _front_indices(self, trials: Sequence[Trial]) -> list[int]:
        if not trials:
            return []
        return pareto_front([[t.metrics[n] for n in self.metric_names] for t in trials], self.higher_is_better)

    def find_best_model_archs(self) -> list[dict[str, Any]]:
        """The Pareto-optimal architectures among the results, in order of first evaluation."""
        trials = list(self._trials.values())
        self.best_model_archs = [trials[i].arch for i in self._front_indices(trials)]
        return self.best_model_archs

    def dump_search_results(self, path: str | os.PathLike) -> None:
        """Write the results as JSON (atomically): metric names, directions and one record per architecture."""
        document = {
            "format": "neural_nas.search_results/1",
            "metrics": self.metric_names,
            "higher_is_better": self.higher_is_better,
            "results": [t.as_record() for t in self._trials.values()],
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
            raise ConfigError(
                str(path),
                path.suffix,
                "a JSON (.json) or JSON-lines (.jsonl) results file; pickled "
                "files are not loaded because unpickling can execute code",
            )
        if path.suffix == ".jsonl":
            records = Journal(path).read()
        else:
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ConfigError(
                    str(path), "<unparsable>", "a JSON document written by dump_search_results", str(err)
                ) from err
            if not isinstance(document, Mapping) or not isinstance(document.get("results"), list):
                raise ConfigError(str(path), type(document).__name__, "a JSON object with a 'results' list")
            records = document["results"]
        self._add_records(records, self._search_space, source=path)
        return self.search_results
