"""Metric predictors fitted on the measurements of a search (exact metrics are computed, never learned)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from neural_nas.errors import PredictorError
from neural_nas.results.study import Trial

logger = logging.getLogger("neural_nas")


def fit_predictor(
    supernet: Any, trials: Sequence[Trial], metric: str, rng: np.random.Generator, previous: Any = None
) -> Any:
    """A predictor of ``metric`` (canonical name): `ExactMetric` for the super-network's exact metrics, else a
    `SubnetPredictor` fitted on every trial that has the metric, seeded from ``rng`` (drawn only for a fit).
    ``previous``: this metric's predictor of the last loop, whose hyperparameters are kept until the measurements
    have grown enough to tune again (`Predictor.refitted`). Its ``predict`` takes sub-network dicts or vectors."""
    from neural_nas.measurements.metrics import metric_registry
    from neural_nas.predictors import ExactMetric, Predictor, SubnetPredictor, quality

    if metric in supernet.exact_metric_names:
        return ExactMetric(supernet, metric)
    seed = int(rng.integers(2**31))
    rows = [t for t in trials if metric in t.metrics]
    if len(rows) < 2:
        raise PredictorError(
            f"a {metric} predictor needs at least 2 measurements with {metric}; there are {len(rows)} "
            "(search first, or load earlier results)"
        )
    vectors = np.stack([supernet.encoding.dict_to_vector(t.arch) for t in rows])
    y = np.array([t.metrics[metric] for t in rows])
    features = supernet.features(vectors)
    log = metric in metric_registry and metric_registry.get(metric).learn_log and bool((y > 0).all())
    target = np.log(y) if log else y
    if isinstance(previous, SubnetPredictor) and isinstance(previous.estimator, Predictor):
        estimator = previous.estimator.refitted(features, target, seed=seed)
    else:
        estimator = Predictor(seed=seed).fit(features, target)
    predictor = SubnetPredictor(supernet, metric, estimator, log=log)
    fit = quality(y, predictor.predict(vectors))
    logger.info(
        "%s predictor: %s on %d measurements (hyperparameters tuned on %s); in-sample Kendall tau %.3f, MAPE %.2f%%",
        metric,
        predictor.estimator.selected_,
        len(rows),
        estimator.tuned_rows_,
        fit["kendall_tau"],
        fit["mape"],
    )
    return predictor
