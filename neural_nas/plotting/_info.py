"""What the plots draw, computed without matplotlib: measured results -> NamedTuples (tested on their own).

- `load_results`: the measured points of a DyNAS results CSV or of a DyNAS/BasicNAS agent, in evaluation order.
- `pareto_info`: every point, its evaluation order, the measured Pareto front and axis labels with units.
- `hypervolume_history`: the hypervolume of the measured front after each measurement (pymoo's ``HV``), from
  `neural_nas.pareto.HypervolumeTracker`, which gives the same number incrementally during a search.

Fronts, directions and hypervolume are `neural_nas.pareto`'s; this module only gathers and labels the points.
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from neural_nas.errors import ConfigError
from neural_nas.pareto import HypervolumeTracker, default_ref_point, pareto_front
from neural_nas.results.selection import resolve_metric

logger = logging.getLogger("neural_nas")


class Results(NamedTuple):
    """Measured results in evaluation order."""

    points: list[dict[str, float]]  # one {metric: value} per measurement
    archs: list[Any]  # the measured architecture / sub-network of each point
    metric_names: list[str]
    higher_is_better: list[bool]


class ParetoInfo(NamedTuple):
    """Everything a Pareto-front plot draws."""

    values: np.ndarray  # (n, m) measured values, in evaluation order
    scaled: np.ndarray  # (n, m) the same in the units of ``labels`` (MACs in M or G, params in M)
    order: np.ndarray  # (n,) evaluation order: 0 for the first measurement
    front: list[int]  # indices of the measured Pareto front, sorted by the first metric (ascending)
    metric_names: list[str]
    higher_is_better: list[bool]
    labels: list[str]  # axis labels with units, one per metric


class HypervolumeHistory(NamedTuple):
    """The hypervolume of the measured front after each measurement."""

    n_measured: np.ndarray  # (n,) 1, 2, ..., n
    hypervolume: np.ndarray  # (n,) non-decreasing for a fixed reference point
    front_size: np.ndarray  # (n,) size of the measured front after each measurement
    ref_point: np.ndarray  # (m,) the reference point in the metrics' own units and directions
    metric_names: list[str]
    higher_is_better: list[bool]


# -- loading --------------------------------------------------------------------------------------------------------
def _canonical_metric(name: str) -> str | None:
    from neural_nas.measurements.metrics import metric_registry

    return metric_registry.canonical(name) if name in metric_registry else None


def default_direction(name: str) -> bool:
    """Higher-is-better of a metric: a Dynamic NAS metric's own direction when known, else True (Basic NAS's)."""
    from neural_nas.measurements.metrics import metric_registry

    return metric_registry.get(name).higher_is_better if name in metric_registry else True


def load_results(path_or_agent: Any, metrics: Sequence[str] | None = None) -> Results:
    """The measured results of a DyNAS results CSV (a path) or of an agent that has searched.

    A CSV keeps the rows that have every selected metric (a ``0`` column means "not measured"). ``metrics`` picks and
    orders the metrics (aliases such as ``acc`` allowed); unset, a CSV gives every column measured in all rows
    (accuracy first, then MACs, params, latency) and an agent gives its configured metrics.
    """
    if isinstance(path_or_agent, (str, os.PathLike)):
        return _load_csv(Path(path_or_agent), metrics)
    if hasattr(path_or_agent, "study") and hasattr(path_or_agent, "metric_names"):
        return _load_agent(path_or_agent, metrics)
    raise TypeError(
        "load_results expects the path of a DyNAS results CSV or a NAS agent (with study and metric_names);"
        f" got {type(path_or_agent).__name__}"
    )


def load_measured(path: str | os.PathLike, metrics: Sequence[str] | None = None, supernet: Any = None) -> Results:
    """The measured rows of a results CSV that ``front``, ``plot`` and ``export`` show or pick from, checked alike
    (the file is only read):

    - its rows must be sub-networks of ``supernet`` with their exact MACs and parameters, as a search resuming the
      file requires; unset, the super-network of the search recorded beside the CSV, when there is one;
    - ``metrics`` (default: those recorded beside it, else every complete column) must be measured in some row.

    Each failed check is a `ResultsFileError` (or, for a metric name, a `ConfigError`) naming the file."""
    from neural_nas.errors import ResultsFileError
    from neural_nas.results.config_record import recorded_metrics
    from neural_nas.results.csv_store import check_belongs

    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(str(path), "no such file", "an existing results CSV")
    supernet = supernet if supernet is not None else _recorded_supernet(path)
    if supernet is not None:
        check_belongs(path, supernet)
    results = load_results(path, metrics if metrics is not None else recorded_metrics(path))
    if not results.points:
        raise ResultsFileError(
            str(path), "no such row", f"a measured row with every one of the metrics {', '.join(results.metric_names)}"
        )
    return results


def _recorded_supernet(path: Path) -> Any:
    """The super-network of the search recorded beside ``path`` (None: no record, or one not registered here)."""
    from neural_nas.config import load_yaml
    from neural_nas.results.config_record import record_of
    from neural_nas.supernets import create_supernet, supernet_registry

    record = record_of(path)
    if record is None:
        return None
    dynas = load_yaml(record).dynas
    if not dynas.supernet or dynas.supernet not in supernet_registry:
        return None
    try:
        return create_supernet(dynas.supernet, dynas)
    except ConfigError as err:  # its genes come from files not here (a model folder): read the rows unchecked
        logger.info("the rows of %s are not checked against %s: %s", path, dynas.supernet, err)
        return None


def _parse_subnet(text: str) -> dict[str, Any]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise ConfigError("Sub-network", text[:120], "a dict literal", str(err)) from None
    if not isinstance(value, dict):
        raise ConfigError("Sub-network", text[:120], "a dict literal")
    return value


def _load_csv(path: Path, metrics: Sequence[str] | None) -> Results:
    from neural_nas.measurements.metrics import metric_registry
    from neural_nas.results.dynast_csv import ResultsCsv

    if not path.is_file():
        raise FileNotFoundError(f"results CSV not found: {str(path)!r}")
    csv = ResultsCsv(path)
    rows = csv.read(_parse_subnet)
    if metrics is None:
        preferred = ["accuracy_top1", "macs", "params", "latency"]
        order = preferred + [m for m in csv.metric_columns if m not in preferred]
        names = [m for m in order if rows and all(m in r.metrics for r in rows)]
        if not names:
            raise ConfigError(str(path), "(no complete column)", "a results CSV with a metric measured in every row")
    else:
        names = [resolve_metric(m, csv.metric_columns, "metrics") for m in metrics]
    kept = [r for r in rows if all(m in r.metrics for m in names)]
    return Results(
        points=[{m: r.metrics[m] for m in names} for r in kept],
        archs=[r.subnet for r in kept],
        metric_names=names,
        higher_is_better=[metric_registry.get(m).higher_is_better for m in names],
    )


def _load_agent(agent: Any, metrics: Sequence[str] | None) -> Results:
    own = list(agent.metric_names or [])
    own_directions = list(agent.higher_is_better)
    direction = dict(zip(own, own_directions))
    names = own if metrics is None else [resolve_metric(m, own, "metrics") for m in metrics]
    points, archs = [], []
    for trial in agent.study.trials:  # in evaluation order
        if all(m in trial.metrics for m in names):
            points.append({m: float(trial.metrics[m]) for m in names})
            archs.append(trial.arch)
    return Results(points, archs, names, [direction[m] for m in names])


# -- Pareto front ---------------------------------------------------------------------------------------------------
def _values(points: Sequence[Mapping[str, float]], metric_names: Sequence[str]) -> np.ndarray:
    missing = [(i, m) for i, p in enumerate(points) for m in metric_names if m not in p]
    if missing:
        i, m = missing[0]
        raise ValueError(f"point {i} has no value for metric {m!r} (it has {sorted(points[i])})")
    return np.array([[float(p[m]) for m in metric_names] for p in points], dtype=float).reshape(
        len(points), len(metric_names)
    )


def axis_label(name: str, values: np.ndarray) -> tuple[str, float]:
    """The axis label (with its unit) of a metric and the divisor that brings its values to that unit.

    Accuracy in %, latency in ms; MACs in G, M (from 1e5) or K; parameters in M (from 1e5) or K. Counts below
    1,000 are taken to be in some unit already (a Basic NAS metric) and are not scaled.
    """
    canonical = _canonical_metric(name)
    if canonical == "accuracy_top1":
        return "top-1 accuracy (%)", 1.0
    largest = float(np.nanmax(np.abs(values))) if values.size else 0.0
    if canonical in ("macs", "params") and largest < 1e3:
        return name, 1.0  # not raw counts (a user's metric already in other units): left as it is
    if canonical == "macs":
        unit, scale = ("G", 1e9) if largest >= 1e9 else ("M", 1e6) if largest >= 1e5 else ("K", 1e3)
        return f"MACs ({unit})", scale
    if canonical == "params":
        unit, scale = ("M", 1e6) if largest >= 1e5 else ("K", 1e3)
        return f"parameters ({unit})", scale
    if canonical == "latency":
        return "latency (ms)", 1.0
    return name, 1.0


def pareto_info(
    points: Sequence[Mapping[str, float]],
    metric_names: Sequence[str],
    higher_is_better: Sequence[bool] | None = None,
) -> ParetoInfo:
    """The points (in evaluation order), the measured Pareto front and the axis labels of a Pareto-front plot.

    ``higher_is_better`` defaults to each metric's own direction (`default_direction`).
    """
    names = list(metric_names)
    if not names:
        raise ValueError("pareto_info needs at least one metric name")
    directions = [default_direction(m) for m in names] if higher_is_better is None else list(higher_is_better)
    if len(directions) != len(names):
        raise ValueError(f"higher_is_better has {len(directions)} entries for {len(names)} metrics {names}")
    values = _values(points, names)
    front = sorted(pareto_front(values, directions), key=lambda i: (values[i, 0], i))
    labels, scales = zip(*(axis_label(m, values[:, j]) for j, m in enumerate(names)))
    return ParetoInfo(
        values=values,
        scaled=values / np.array(scales),
        order=np.arange(len(values)),
        front=front,
        metric_names=names,
        higher_is_better=directions,
        labels=list(labels),
    )


# -- hypervolume ----------------------------------------------------------------------------------------------------
def hypervolume_history(
    points: Sequence[Mapping[str, float]] | np.ndarray,
    higher_is_better: Sequence[bool],
    ref_point: Sequence[float] | None = None,
    metric_names: Sequence[str] | None = None,
) -> HypervolumeHistory:
    """The hypervolume of the measured front after each measurement.

    ``points``: metric dicts (with ``metric_names``, default the first dict's keys) or an (n, m) array, in evaluation
    order. ``ref_point`` (in the metrics' own units) defaults to `default_ref_point` of all the points; it is returned
    with the history so that numbers can be compared.
    """
    if len(points) and isinstance(points[0], Mapping):
        names = list(metric_names) if metric_names is not None else list(points[0])
        values = _values(points, names)  # type: ignore[arg-type]
    else:
        values = np.asarray(points, dtype=float).reshape(len(points), len(higher_is_better))
        names = list(metric_names) if metric_names is not None else [f"metric_{j}" for j in range(values.shape[1])]
    if len(values) == 0:
        raise ValueError("hypervolume_history needs at least one measured point")
    ref = default_ref_point(values, higher_is_better) if ref_point is None else np.asarray(ref_point, dtype=float)
    tracker = HypervolumeTracker(higher_is_better, ref)
    hv, sizes = [], []
    for row in values:
        hv.append(tracker.add(row))
        sizes.append(tracker.front_size)
    return HypervolumeHistory(
        n_measured=np.arange(1, len(values) + 1),
        hypervolume=np.array(hv),
        front_size=np.array(sizes),
        ref_point=ref,
        metric_names=names,
        higher_is_better=list(higher_is_better),
    )
