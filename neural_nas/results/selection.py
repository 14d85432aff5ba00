"""Choosing from measured results: constraints (``macs<=3e8``), an objective (``max:acc``, ``min:latency``, the
``knee`` of the front, or row ``#N``), and the reason for the choice, in words.

Works on `plotting.Results` (a results CSV, also one a search is still writing, or an agent): points in evaluation
order, each a ``{metric: value}`` dict. A constraint that no row satisfies is a ConfigError listing the closest rows.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neural_nas.errors import ConfigError
from neural_nas.pareto import pareto_front, sign_adjust

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w ()%.-]*?)\s*(<=|>=|==|<|>)\s*([-+0-9.eE_]+)\s*([kKMGT]?)\s*$")
# A bound may carry a magnitude suffix, as MACs and parameters are usually quoted: 0.5M, 1.2G.
_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def resolve_metric(name: str, available: Sequence[str], key: str) -> str:
    """The column of ``available`` (canonical metric names) that ``name`` means: the name, an alias or a CSV header."""
    from neural_nas.measurements.metrics import metric_registry

    found = metric_registry.resolve(name, available)
    if found is not None:
        return found
    raise ConfigError(key, name, f"a metric of these results ({', '.join(available)})")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``, e.g. ``Constraint.parse("macs<=3e8", ["accuracy_top1", "macs"])``."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str, available: Sequence[str], key: str = "--where") -> Constraint:
        match = _CONSTRAINT.match(text)
        if not match:
            raise ConfigError(
                key, text, "METRIC OP NUMBER, e.g. macs<=3e8, macs<=300M or acc>=75 (OP: <=, <, >=, >, ==)"
            )
        name, op, number, suffix = match.groups()
        try:
            bound = float(number.replace("_", "")) * _SUFFIX[suffix]
        except ValueError:
            raise ConfigError(key, text, "a number after the operator, e.g. macs<=3e8") from None
        return cls(resolve_metric(name, available, key), op, bound)

    def holds(self, metrics: dict[str, float]) -> bool:
        return _OPS[self.op](metrics[self.metric], self.bound)

    def miss(self, metrics: dict[str, float]) -> float:
        """How far a row misses the bound, relative to it (0 when it holds): ranks the closest rows."""
        if self.holds(metrics):
            return 0.0
        return abs(metrics[self.metric] - self.bound) / max(abs(self.bound), 1e-12)

    def misses(self, values: np.ndarray) -> np.ndarray:
        """`miss` of each of ``values`` (an array of this metric's values)."""
        values = np.asarray(values, dtype=float)
        miss = np.abs(values - self.bound) / max(abs(self.bound), 1e-12)
        return np.where(_OPS[self.op](values, self.bound), 0.0, miss)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Choice:
    """A chosen row: its number in the table (``#``, 1 = first measured), sub-network, metrics and why."""

    number: int
    arch: Any
    metrics: dict[str, float]
    reason: str


def rows_where(results: Any, constraints: Sequence[Constraint]) -> list[int]:
    """Indices of the points that satisfy every constraint; none is a ConfigError naming the closest rows."""
    points = results.points
    kept = [i for i, p in enumerate(points) if all(c.holds(p) for c in constraints)]
    if points and not kept:
        closest = sorted(range(len(points)), key=lambda i: sum(c.miss(points[i]) for c in constraints))[:3]
        shown = "; ".join(f"#{i + 1} {_metrics_text(points[i])}" for i in closest)
        raise ConfigError(
            "--where",
            " and ".join(map(str, constraints)),
            f"constraints that at least one of the {len(points)} measured rows satisfies",
            f"closest rows: {shown}",
        )
    return kept


def pick(results: Any, where: Sequence[str | Constraint] = (), by: str = "knee") -> Choice:
    """The row of ``results`` chosen by ``by`` among those satisfying ``where``.

    ``by``: ``max:METRIC`` / ``min:METRIC`` (the best value, ties to the earliest row), ``knee`` (the point of the
    measured front, within the constraints, nearest the ideal point once each objective is scaled to [0, 1]), or
    ``#N`` (row N of the table, which must satisfy the constraints)."""
    names = list(results.metric_names)
    constraints = [c if isinstance(c, Constraint) else Constraint.parse(c, names) for c in where]
    if not results.points:
        raise ConfigError("results", "no complete rows", "a results file with at least one measured row")
    kept = rows_where(results, constraints)
    within = f" among the {len(kept)} of {len(results.points)} rows with {' and '.join(map(str, constraints))}"
    within = within if constraints else f" among all {len(results.points)} rows"
    spec = by.strip()
    if spec.startswith("#"):
        index = _row_number(spec, len(results.points)) - 1
        if index not in kept:
            raise ConfigError(
                "--pick", by, "a row that satisfies the constraints", _metrics_text(results.points[index])
            )
        return _choice(results, index, f"row {spec} as asked")
    if spec.lower() == "knee":
        index, note = _knee(results, kept)
        return _choice(results, index, note + within)
    direction, sep, metric_name = spec.partition(":")
    if not sep or direction.lower() not in ("max", "min"):
        raise ConfigError("--pick", by, "knee, max:METRIC, min:METRIC or #N (a row of the table)")
    metric = resolve_metric(metric_name, names, "--pick")
    values = np.array([results.points[i][metric] for i in kept])
    best_value = values.max() if direction.lower() == "max" else values.min()
    tied = [i for i, v in zip(kept, values) if v == best_value]
    # Among rows tied on the metric, the first one that no other tied row beats on the remaining metrics.
    tied_values = [[results.points[i][m] for m in names] for i in tied]
    best = tied[pareto_front(tied_values, results.higher_is_better)[0]]
    return _choice(results, best, f"the {direction.lower()}imum {metric}{within}")


def _knee(results: Any, kept: list[int]) -> tuple[int, str]:
    values = np.array([[results.points[i][m] for m in results.metric_names] for i in kept], dtype=float)
    adjusted = sign_adjust(values, results.higher_is_better)  # every objective: higher is better
    front = pareto_front(adjusted)
    best, span = adjusted[front].max(axis=0), np.ptp(adjusted[front], axis=0)
    shortfall = (best - adjusted[front]) / np.where(span > 0, span, 1.0)  # 0 at the ideal point, 1 at the worst
    nearest = int(np.argmin(np.linalg.norm(shortfall, axis=1)))
    return kept[front[nearest]], f"the knee of the measured front ({len(front)} points)"


def _row_number(spec: str, n: int) -> int:
    try:
        number = int(spec[1:])
    except ValueError:
        number = 0
    if not 1 <= number <= n:
        raise ConfigError("--pick", spec, f"#N with N from 1 to {n} (the '#' column of the table)")
    return number


def _choice(results: Any, index: int, reason: str) -> Choice:
    return Choice(index + 1, results.archs[index], dict(results.points[index]), reason)


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in metrics.items())
