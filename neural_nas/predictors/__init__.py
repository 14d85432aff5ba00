"""Metric predictors for Dynamic NAS: features from encoded sub-networks, and regressors chosen by cross-validation."""

from neural_nas.predictors.estimators import Predictor, ReferencePredictor
from neural_nas.predictors.features import active_block_features, active_block_onehot
from neural_nas.predictors.quality import quality
from neural_nas.predictors.subnet import ExactMetric, SubnetPredictor

__all__ = [
    "ExactMetric",
    "SubnetPredictor",
    "Predictor",
    "ReferencePredictor",
    "active_block_features",
    "active_block_onehot",
    "quality",
]
