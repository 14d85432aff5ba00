"""The Dynamic NAS metrics: each declared once, with its name, results-CSV column, direction, unit and aliases.

A user's metric is one declaration away::

    from neural_nas.measurements import Metric, metric_registry

    metric_registry.add(Metric("energy", csv_column="Energy (mJ)", higher_is_better=False, unit="mJ"))

A super-network that lists ``"energy"`` in its ``metrics`` can then be searched on it; its values get their own column
in the results CSV, are read back when a search resumes, and are never measured again.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from neural_nas._registry import Registry


@dataclass(frozen=True)
class Metric:
    """A measurable property of a sub-network. ``csv_column`` is its header in the results CSV (unique).

    ``depends_on_weights``: its value changes with the trained weights (accuracy does; MACs, parameters and latency do
    not, so a search on those alone never loads or downloads weights). ``csv_aliases``: other headers the column has
    in files of the reference (read, never written). ``valid``: the closed range of its possible values; a value
    outside it (an SST-2 accuracy of 53.1, a fraction written as a percentage) is refused wherever it comes from.
    ``learn_log``: predictors fit its logarithm (perplexity: a broken sub-network's thousands would otherwise set the
    scale the good ones are told apart on)."""

    name: str
    csv_column: str
    higher_is_better: bool
    unit: str
    aliases: tuple[str, ...] = ()
    depends_on_weights: bool = False
    csv_aliases: tuple[str, ...] = ()
    valid: tuple[float, float] = (0.0, math.inf)
    learn_log: bool = False  # predictors learn log(value): a positive metric that spans orders of magnitude

    def accepts(self, value: float) -> bool:
        return self.valid[0] <= value <= self.valid[1]

    @property
    def valid_text(self) -> str:
        low, high = self.valid
        return f"a number >= {low:g}" if high == math.inf else f"a number in [{low:g}, {high:g}]"


class MetricRegistry(Registry[Metric]):
    def add(self, metric: Metric) -> Metric:
        """Register ``metric`` under its name and aliases (a name registered again is replaced, with a warning).

        Names are lower case, as every registry's: ``Metric("Energy", ...)`` is registered as ``energy``."""
        metric = dataclasses.replace(metric, name=metric.name.strip().lower())
        taken = [m.name for m in map(self.get, self.names()) if m.csv_column == metric.csv_column]
        if taken and taken != [metric.name]:
            raise ValueError(f"results-CSV column {metric.csv_column!r} already belongs to metric {taken[0]!r}")
        self.register(metric.name, metric, aliases=metric.aliases)
        return metric

    def by_column(self, column: str) -> Metric | None:
        """The metric written under a results-CSV header (surrounding spaces ignored), or None."""
        for metric in map(self.get, self.names()):
            if column.strip() in (metric.csv_column.strip(), *metric.csv_aliases):
                return metric
        return None

    def resolve(self, name: str, available: Sequence[str]) -> str | None:
        """The metric of ``available`` (canonical names: a super-network's metrics, a results CSV's columns) that
        ``name`` means, or None: the metric itself, a registered alias, a CSV header, or the reference's ``acc`` /
        ``accuracy``, which means the one accuracy-like metric there is (top-1, SST-2 accuracy, BLEU). The same rule
        serves a search's config and everything read after it, so ``acc`` means one thing in both."""
        text = name.strip()
        candidates = [text.lower()]
        if text.lower() in self:
            candidates.append(self.canonical(text.lower()))
        by_column = self.by_column(text)
        if by_column is not None:
            candidates.append(by_column.name)
        if text.lower() in ("acc", "accuracy"):
            quality = [m for m in available if m in self and self.get(m).depends_on_weights]
            candidates += quality if len(quality) == 1 else []
        return next((c for c in candidates if c in available), None)


metric_registry = MetricRegistry("metric", "nas.dynas.metrics")

for _metric in [
    Metric("accuracy_top1", "Top-1 Acc (%)", True, "%", aliases=("acc",), depends_on_weights=True, valid=(0, 100)),
    Metric("macs", "MACs", False, "MACs", csv_aliases=("MACS",)),  # "MACS": the BERT SST-2 notebook's file
    Metric("params", "Model Parameters", False, "parameters"),
    Metric("latency", "Latency (ms)", False, "ms", aliases=("lat",)),
    # The other tasks' accuracy metrics: a super-network maps the reference's ``acc`` to its own (metric_aliases).
    # A fraction, as the reference wrote it.
    Metric("accuracy_sst2", "SST-2 Acc", True, "fraction", depends_on_weights=True, valid=(0, 1)),
    Metric("bleu", "BLEU", True, "BLEU", depends_on_weights=True, valid=(0, 100)),
    Metric("model_size", "Model Size", False, "MB"),  # of the stored weights (the quantized model's, if quantized)
    Metric(
        "perplexity",
        "Perplexity",
        False,
        "",
        aliases=("ppl",),
        depends_on_weights=True,
        valid=(1, math.inf),
        learn_log=True,
    ),
    Metric("decode_latency", "Decode Latency (ms/token)", False, "ms"),
]:
    metric_registry.add(_metric)

# The metric columns of the DyNAS-T results CSV, in its order (the default of `SuperNetwork.csv_metrics`).
DYNAST_CSV_METRICS = ("params", "latency", "macs", "accuracy_top1")
