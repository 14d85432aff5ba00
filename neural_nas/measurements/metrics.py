"""The Dynamic NAS metrics: canonical names, aliases, direction, unit and results-CSV column, declared once."""

from __future__ import annotations

from dataclasses import dataclass

from neural_nas._registry import Registry


@dataclass(frozen=True)
class Metric:
    name: str
    csv_column: str
    higher_is_better: bool
    unit: str


metric_registry: Registry[Metric] = Registry("metric", "nas.dynas.metrics")

for _metric, _aliases in [
    (Metric("accuracy_top1", "Top-1 Acc (%)", True, "%"), ("acc",)),
    (Metric("macs", "MACs", False, "MACs"), ()),
    (Metric("params", "Model Parameters", False, "parameters"), ()),
    (Metric("latency", "Latency (ms)", False, "ms"), ("lat",)),
]:
    metric_registry.register(_metric.name, _metric, aliases=_aliases)

# Column order of the results CSV (the DyNAS-T format).
CSV_METRIC_ORDER = ("params", "latency", "macs", "accuracy_top1")
