"""Predictors over sub-networks: accept sub-network dicts or choice-index vectors, not just feature matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class _SubnetInput:
    def __init__(self, supernet: Any, metric: str) -> None:
        self.supernet = supernet
        self.metric = metric

    def vectors(self, subnets: Sequence[Mapping[str, Any]] | np.ndarray) -> np.ndarray:
        """A population as index vectors: a list of sub-network dicts, or vectors (1-D: one, 2-D: rows)."""
        if isinstance(subnets, Mapping):
            subnets = [subnets]
        if len(subnets) and isinstance(subnets[0], Mapping):
            return np.stack([self.supernet.encoding.dict_to_vector(s) for s in subnets])
        return np.atleast_2d(np.asarray(subnets, dtype=np.int64))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.metric!r}, {self.supernet.name!r})"


class SubnetPredictor(_SubnetInput):
    """A fitted estimator (e.g. `Predictor`) on the super-network's features. ``predict`` takes dicts or vectors.
    ``log``: the estimator was fitted on the metric's logarithm (`Metric.learn_log`); predictions are exponentiated."""

    def __init__(self, supernet: Any, metric: str, estimator: Any, log: bool = False) -> None:
        super().__init__(supernet, metric)
        self.estimator, self.log = estimator, log

    def predict(self, subnets: Sequence[Mapping[str, Any]] | np.ndarray) -> np.ndarray:
        predicted = self.estimator.predict(self.supernet.features(self.vectors(subnets)))
        return np.exp(predicted) if self.log else predicted


class ExactMetric(_SubnetInput):
    """A metric the super-network computes exactly and cheaply (its MAC/param tables): nothing to learn."""

    def predict(self, subnets: Sequence[Mapping[str, Any]] | np.ndarray) -> np.ndarray:
        return self.supernet.exact_metrics(self.vectors(subnets))[self.metric].astype(float)
