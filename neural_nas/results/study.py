"""The record of one search, in memory: what was measured, what failed, and the rules both approaches share.

A `Study` does no I/O. A results store (`neural_nas.results.store`) replays a file into it when a search resumes and
appends each new trial or failure to disk; the drivers ask it what is measured, what the budget leaves and what the
measured Pareto front is. Basic and Dynamic NAS use the same rules:

- identity: an architecture is identified by its values in sorted-key order (`arch_key`);
- budget: every recorded measurement counts, failed ones and earlier (resumed) ones included, also a file's second
  row of a network it measured already (`spent`);
- failures: a failed architecture scores the worst measured value of each metric (`failure_metrics`), so no searcher
  or evolutionary algorithm ever prefers it, and it is never measured again unless the user asks to retry;
- stopped (racing, `neural_nas.measurements.racing`): an architecture whose validation was stopped once the front
  dominated its best case is a measurement spent, never measured again and never on the front; it scores its
  estimated metrics;
- front: the measured Pareto front, in order of first measurement (`front`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neural_nas.errors import ConfigError, MeasurementError, TooManyFailuresError
from neural_nas.pareto import pareto_front, sign_adjust

logger = logging.getLogger("neural_nas")


@dataclass
class Trial:
    """One measured architecture: its dict, its metrics by name and (Basic NAS) the model's parameter count."""

    arch: dict[str, Any]
    metrics: dict[str, float]
    params: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {"arch": self.arch, "metrics": self.metrics, "params": self.params}


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def arch_key(arch: Mapping[str, Any]) -> tuple[Any, ...]:
    """The identity of an architecture: its values in sorted-key order (lists frozen to tuples)."""
    return tuple(_freeze(arch[k]) for k in sorted(arch))


def finite_metrics(arch: Any, values: Mapping[str, Any]) -> dict[str, float]:
    """``{name: float}`` of a measurement; a value that is not a finite number (a bool, a string, NaN, inf, an
    object without ``__float__``) fails the measurement of ``arch``."""
    out = {}
    for name, value in values.items():
        try:
            if isinstance(value, (bool, str, bytes)):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError):
            raise MeasurementError(arch, f"metric {name!r} is {value!r}, not a number") from None
        if not math.isfinite(number):
            raise MeasurementError(arch, f"metric {name!r} is {number}")
        out[str(name)] = number
    return out


class Study:
    """Trials and failures of one search, keyed by `arch_key`, in order of first measurement.

    The metric names may be unknown when a Basic NAS search starts (the first measurement's dict names them); then
    `define_metrics` fixes them, with the directions given here (``None``: all higher-is-better).
    """

    def __init__(
        self, metric_names: Sequence[str] | None = None, higher_is_better: Sequence[bool] | None = None
    ) -> None:
        self.metric_names: list[str] | None = None
        self.higher_is_better: list[bool] | None = None
        self._directions = None if higher_is_better is None else [bool(h) for h in higher_is_better]
        self._trials: dict[tuple, Trial] = {}
        self._failures: dict[tuple, dict[str, Any]] = {}
        self._stopped: dict[tuple, Trial] = {}
        self._repeated_rows = 0
        if metric_names is not None:
            self.define_metrics(metric_names)

    def define_metrics(self, names: Sequence[str]) -> None:
        """Fix the metric names of this study (once; their directions were given to the constructor)."""
        names = [str(n) for n in names]
        directions = [True] * len(names) if self._directions is None else self._directions
        if len(directions) != len(names):
            raise ConfigError(
                "nas.search.higher_is_better",
                directions,
                f"a list of {len(names)} booleans, one per metric ({', '.join(names)})",
            )
        self.metric_names, self.higher_is_better = names, list(directions)

    # -- what is recorded -------------------------------------------------------------------------------------------
    @property
    def trials(self) -> list[Trial]:
        return list(self._trials.values())

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Architectures whose measurement failed (and that were not measured since)."""
        return [a for k, a in self._failures.items() if k not in self._trials]

    @property
    def stopped(self) -> list[Trial]:
        """Architectures stopped by racing, with their estimated metrics (not measured on the whole data; one stopped
        before a metric was searched lacks that metric)."""
        return [t for k, t in self._stopped.items() if k not in self._trials]

    def __len__(self) -> int:
        return len(self._trials)

    def get(self, arch: Mapping[str, Any]) -> Trial | None:
        return self._trials.get(arch_key(arch))

    def is_done(self, arch: Mapping[str, Any]) -> bool:
        """Measured, failed or stopped: it is not measured again."""
        key = arch_key(arch)
        return key in self._trials or key in self._failures or key in self._stopped

    def add_trial(self, arch: Mapping[str, Any], metrics: Mapping[str, float], params: int | None = None) -> bool:
        """Record a measurement; False (and nothing changes) if the architecture is measured already."""
        key = arch_key(arch)
        if key in self._trials:
            return False
        self._trials[key] = Trial(dict(arch), dict(metrics), params)
        return True

    def add_failure(self, arch: Mapping[str, Any]) -> bool:
        """Record a failed measurement; False if the architecture is recorded already (measured or failed)."""
        key = arch_key(arch)
        if key in self._trials or key in self._failures or key in self._stopped:
            return False
        self._failures[key] = dict(arch)
        return True

    def add_stopped(self, arch: Mapping[str, Any], estimate: Mapping[str, float]) -> bool:
        """Record an architecture stopped by racing, with its estimated metrics; False if it is recorded already."""
        key = arch_key(arch)
        if self.is_done(arch):
            return False
        self._stopped[key] = Trial(dict(arch), dict(estimate))
        return True

    # -- the shared rules -------------------------------------------------------------------------------------------
    def record_repeats(self, rows: int) -> None:
        """Say how many rows of the replayed results file record a network recorded already by an earlier row (one
        written under other inactive genes, or measured again after a failure). Each was a measurement spent, so each
        counts toward the budget. Set, not added: replaying the same file again changes nothing."""
        self._repeated_rows = rows

    def n_done(self) -> int:
        """Distinct architectures recorded: measured, failed or stopped (none is measured again)."""
        return len(self._trials.keys() | self._failures.keys() | self._stopped.keys())

    def spent(self) -> int:
        """Budget spent: every recorded measurement, failed ones and earlier (resumed) ones included."""
        return self.n_done() + self._repeated_rows

    def remaining(self, budget: int) -> int:
        return max(budget - self.spent(), 0)

    def failure_metrics(self) -> dict[str, float]:
        """What a failed architecture scores: the worst measured value of each metric (0 before any measurement)."""
        out = {}
        for name, higher in zip(self.metric_names or [], self.higher_is_better or []):
            values = [t.metrics[name] for t in self._trials.values()]
            out[name] = (min(values) if higher else max(values)) if values else 0.0
        return out

    def metrics_of(self, arch: Mapping[str, Any]) -> dict[str, float]:
        """The measured metrics of an architecture; the estimate of one stopped by racing; `failure_metrics` for one
        that failed (or is not measured: what a search that must score it anyway gives it)."""
        trial = self.get(arch) or self._stopped.get(arch_key(arch))
        if trial is None or not self._complete(trial):  # a stopped one recorded before a metric was added
            return self.failure_metrics()
        return dict(trial.metrics)

    def _complete(self, trial: Trial) -> bool:
        return self.metric_names is None or all(m in trial.metrics for m in self.metric_names)

    def scalar(self, metrics: Mapping[str, float]) -> float:
        """One number per measurement, as the reference fed its searchers: the sum of the sign-adjusted metrics."""
        if not self.metric_names:
            return 0.0
        return float(sign_adjust([[metrics[n] for n in self.metric_names]], self.higher_is_better).sum())

    def front(self) -> list[Trial]:
        """The measured Pareto front, in order of first measurement."""
        trials = self.trials
        if not trials or not self.metric_names:
            return []
        points = [[t.metrics[n] for n in self.metric_names] for t in trials]
        return [trials[i] for i in pareto_front(points, self.higher_is_better)]


class FailureGuard:
    """Applies ``nas.search.on_error``: counts failed measurements in a row and stops the search at the limit."""

    def __init__(self, skip: bool, limit: int, record: str) -> None:
        self.skip, self.limit, self.record = skip, limit, record
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
