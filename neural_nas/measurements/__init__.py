"""Measurements of sub-networks, one module per concern.

``metrics`` (the declared metrics and their registry, exported here), ``counting`` (exact MACs/params of any module by
forward hooks), ``latency`` and ``accuracy``. The last three pull in torch, so callers import the one they need.
"""

from neural_nas.measurements.metrics import Metric, metric_registry

__all__ = ["Metric", "metric_registry"]
