"""One search, under every approach: lock -> replay -> record the config -> loop -> report.

`run_search(agent, res_save_path)` is what ``agent.search()`` does, for Basic NAS, Dynamic NAS and a user's approach
alike. The approach supplies the hooks of `NASBase` (where its results live, how to measure one architecture, how to
propose them); this module holds the rules that must not differ between approaches:

- one search per results file (`ResultsLock`); the file is replayed into the study before anything is measured;
- the configuration that runs is recorded beside the results (``config.yaml``), whether it started from Python or
  from the command line; a run with nothing left to measure leaves the record of the one that did alone;
- the budget: every recorded measurement counts, resumed and failed ones included, and a run never measures past it;
- never measure twice: an architecture recorded already (measured or failed) is not measured again;
- durability: `Run.measure` is the only place that appends an outcome, and it is on disk before it counts;
- failures: ``on_error`` and ``max_consecutive_failures`` (`FailureGuard`); an error that is not the architecture's
  own stops the search once the rest of its round is on disk;
- racing: when the approach races (`NASBase.race_front`), each round carries the measured front at its start, and a
  candidate stopped against it is recorded as such: a measurement spent, never measured again, never half-written;
- distributed: rank 0 runs all of this, the other ranks only measure their share of each round (`Executor.serve`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neural_nas.errors import ConfigError, MeasurementError, TooManyFailuresError
from neural_nas.measurements.racing import Front, Stopped
from neural_nas.nas.executor import Crashed, Executor, Failed, Measured, Outcome
from neural_nas.pareto import HypervolumeTracker
from neural_nas.results.config_record import record_config
from neural_nas.results.lock import ResultsLock
from neural_nas.results.store import ResultsStore
from neural_nas.results.study import FailureGuard, Study, Trial, arch_key

if TYPE_CHECKING:
    from neural_nas.nas.base import NASBase

logger = logging.getLogger("neural_nas")


def run_search(agent: NASBase, res_save_path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Run ``agent``'s search into ``agent.results_path(res_save_path)``; returns ``agent.search_result(run)`` on
    every rank."""
    from neural_nas.distributed import Ranks

    agent.validate()
    ranks = Ranks(agent.measures_across_ranks())
    try:
        executor = Executor(ranks, outcome_of(agent.measurer()))
        if not executor.is_driver:
            return executor.serve()
        try:
            result = _drive(agent, executor, agent.results_path(res_save_path), res_save_path)
        except BaseException:
            try:
                executor.stop(failed=True)  # the other ranks wait for the next round: release them
            except Exception:  # the group may be gone (a dead rank): the original error is the one to see
                logger.warning("could not tell the other ranks that the search failed", exc_info=True)
            raise
        return executor.stop(result)
    finally:
        ranks.close()


@dataclass(frozen=True)
class Candidate:
    """What a rank measures: an architecture and, when the approach races, the front it races against."""

    arch: dict[str, Any]
    front: Front | None = None


def outcome_of(measure: Callable[..., Measured | Stopped]) -> Callable[[Candidate], Outcome]:
    """An executor's ``measure_one``: ``measure(arch)``, or ``measure(arch, front=...)`` for a raced candidate. The
    architecture's own failure (a MeasurementError) is an outcome to record; any other error is left to the executor,
    which reports it as a crash."""

    def measure_one(candidate: Candidate) -> Outcome:
        try:
            if candidate.front is None:
                return measure(candidate.arch)
            return measure(candidate.arch, front=candidate.front)
        except MeasurementError as err:
            return Failed(err.reason, err)

    return measure_one


def _drive(
    agent: NASBase, executor: Executor, path: Path, res_save_path: str | os.PathLike | None
) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    for folder in (path.parent.parent, path.parent):
        if folder.exists() and not folder.is_dir():
            given = res_save_path if res_save_path is not None else path
            raise ConfigError("res_save_path", str(given), "a folder to hold the results", f"{folder} is a file")
    study = agent.study_of(path)
    store = agent.open_results(path)
    with ResultsLock(path):  # one search per results file; the OS frees the lock on any exit
        store.replay(study, retry_failed=agent.conf.nas.search.retry_failed)
        spent, budget = study.spent(), agent.search_budget()
        agent.config_record = None
        if spent >= budget:
            logger.info(nothing_to_do(path, spent, budget, agent.budget_key))
        desc, unit = agent.progress_label
        with tqdm(total=budget, initial=min(spent, budget), desc=desc, unit=unit, disable=None) as bar:
            run = Run(agent, study, store, executor, budget, bar)
            agent.start_run(run)  # what measuring needs is ready (or has failed) before anything is recorded
            if run.remaining():  # a run that measures nothing leaves the record of the one that did alone
                agent.config_record = record_config(path, agent.resolved_config(), beside_results=spent > 0)
                agent.propose(run)
        agent.find_best_model_archs()
        agent.after_run(run)
    logger.info(
        "search done: %d measured, %d on the Pareto front%s; results in %s",
        len(study),
        len(agent.best_model_archs),
        f", {len(study.failures)} failed" if study.failures else "",
        path,
    )
    return agent.search_result(run)


class Run:
    """A search in progress, as the approach's `NASBase.propose` sees it: the study so far, the budget left, and
    `measure`, which records every outcome."""

    def __init__(
        self, agent: NASBase, study: Study, store: ResultsStore, executor: Executor, budget: int, bar: Any
    ) -> None:
        self.agent, self.study, self.store, self.executor, self.budget, self.bar = (
            agent,
            study,
            store,
            executor,
            budget,
            bar,
        )
        search = agent.conf.nas.search
        self.guard = FailureGuard(search.on_error == "skip", search.max_consecutive_failures, str(store.failures_path))
        self._hypervolume: HypervolumeTracker | None = None
        self.stopped: list[Stopped] = []  # candidates of this run stopped by racing

    def remaining(self) -> int:
        """Measurements the budget still allows."""
        return self.study.remaining(self.budget)

    def measure(self, archs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Measure ``archs`` in order, up to the budget, skipping any recorded already (or repeated); returns those
        measured (failed ones included). Each round's outcomes are on disk before the next round starts; an error
        is raised once the rest of its round is recorded."""
        todo: list[dict[str, Any]] = []
        seen: set[tuple] = set()
        for arch in archs:
            key = arch_key(arch)
            if key not in seen and not self.study.is_done(arch):
                seen.add(key)
                todo.append(dict(arch))
        todo = todo[: self.remaining()]
        size = self.executor.world_size
        for start in range(0, len(todo), size):
            front = self.agent.race_front(self)  # each round races against the front measured so far
            candidates = [Candidate(arch, front) for arch in todo[start : start + size]]
            for outcomes in self.executor.rounds(candidates):
                errors = [self._record(candidate.arch, outcome) for candidate, outcome in outcomes]
                error = next((e for e in errors if e is not None), None)
                if error is not None:
                    raise error  # every other outcome of the round is on disk first
        if todo:
            self.agent.after_batch(self, todo)
        return todo

    def _record(self, arch: dict[str, Any], outcome: Outcome) -> Exception | None:
        """Write one outcome (a failure only under ``on_error: skip``) to disk, then to the study; the error to raise
        otherwise."""
        if isinstance(outcome, Crashed):  # not the architecture's failure: the search stops
            return outcome.error or RuntimeError(f"rank {outcome.rank} failed: {outcome.reason}")
        if isinstance(outcome, Failed):
            if not self.guard.skip:
                # This rank's own failure keeps its traceback; another rank's arrives as its message.
                return outcome.error or MeasurementError(arch, outcome.reason)
            self.store.append_failure(arch, outcome.reason)  # on disk first: never measured again
            self.study.add_failure(arch)
            self.bar.update(1)
            try:
                self.guard.failed(arch, outcome.reason)
            except TooManyFailuresError as err:  # raised once the rest of the round is on disk too
                return err
            return None
        if isinstance(outcome, Stopped):
            self.guard.succeeded()
            self.store.append_stopped(arch, outcome.as_record())  # on disk first: never measured again
            self.study.add_stopped(arch, outcome.metrics)
            self.stopped.append(outcome)
            self.bar.update(1)
            return None
        if self.study.metric_names is None:
            self.study.define_metrics(list(outcome.metrics))  # a higher_is_better of another length fails here
        self.guard.succeeded()
        self.store.append_trial(Trial(arch, outcome.metrics, outcome.params))  # on disk before it counts
        self.study.add_trial(arch, outcome.metrics, outcome.params)
        self._show_hypervolume(outcome.metrics)
        self.bar.update(1)
        return None

    def _show_hypervolume(self, metrics: Mapping[str, float]) -> None:
        """Hypervolume and front size of the measured points, on the progress bar as they change."""
        names = self.study.metric_names or []
        if self._hypervolume is None:  # first call: the earlier trials (the one just recorded is the last)
            self._hypervolume = HypervolumeTracker(self.study.higher_is_better)
            for trial in self.study.trials[:-1]:
                self._hypervolume.add([trial.metrics[m] for m in names])
        hypervolume = self._hypervolume.add([metrics[m] for m in names])
        self.bar.set_postfix(hypervolume=f"{hypervolume:.4g}", front=self._hypervolume.front_size, refresh=False)


def nothing_to_do(path: Path, done: int, budget: int, budget_key: str) -> str:
    """What a search whose results file already meets its budget tells the user, and how to go on."""
    short = budget_key.removeprefix("nas.")
    return (
        f"nothing to measure: {path} already holds {done} measured architecture(s) and {budget_key} is {budget}. "
        f"To measure more, raise it (e.g. --set {short}={max(done, budget) + 100}); to start afresh, use another "
        "results path (or --output-dir)"
    )
