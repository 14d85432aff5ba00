"""Metric predictors: scikit-learn regressors chosen by k-fold cross-validation, refitted from a fresh clone each time.

`Predictor` is the one DyNAS uses; `ReferencePredictor` reproduces the reference implementation's configuration and
exists only as the baseline for benchmarks and tests.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.svm import SVR
from sklearn.utils.validation import check_array, check_is_fitted
from threadpoolctl import ThreadpoolController, threadpool_limits

from neural_nas._rng import as_generator

logger = logging.getLogger("neural_nas")

_CONTROLLER: ThreadpoolController | None = None


def _one_blas_thread():
    """Limit BLAS/OpenMP to one thread, cheaply: `threadpool_limits` scans the loaded libraries on every call (10-15
    ms), which made it most of the cost of a `predict` inside the evolutionary search (400 calls per loop). The scan
    is done once, on first use, and reused."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


def _check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = check_array(np.atleast_2d(X), dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} values")
    if len(y) == 0:
        raise ValueError("cannot fit a predictor on zero measurements")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return X, y


@contextlib.contextmanager
def _global_numpy_state_kept():
    """Undo scikit-learn's SVR drawing a libsvm seed from numpy's global state (SVR has no random_state parameter;
    the seed only matters for probability estimates, unused here), so fitting leaves the caller's stream untouched."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _select(
    candidates: dict[str, tuple[BaseEstimator, dict]], X: np.ndarray, y: np.ndarray, cv, scoring: str
) -> tuple[str, BaseEstimator, dict[str, float]]:
    """Grid-search every candidate with the same folds and return (name, refitted best estimator, CV scores)."""
    searches = {
        name: GridSearchCV(clone(est), grid, cv=cv, scoring=scoring).fit(X, y)
        for name, (est, grid) in candidates.items()
    }
    scores = {name: float(s.best_score_) for name, s in searches.items()}
    best = max(scores, key=scores.get)
    return best, searches[best].best_estimator_, scores


class Predictor(RegressorMixin, BaseEstimator):
    """Ridge or RBF-SVR, whichever scores better in k-fold cross-validation (the reference's scheme), faster and better.

    Differences from `ReferencePredictor`; their effect on real OFA MobileNetV3 data is measured in
    benchmarks/RESULTS.md, 'Metric predictors on the shared OFA MobileNetV3 data':

    - the target is standardised before fitting, so the SVR's ``epsilon`` tube and ``C`` mean the same for accuracy in
      percent, MACs or latency in ms (unscaled, the default 0.1 tube swallows much of the accuracy signal);
    - small grids (``C`` barely matters once the tube is narrow) that include the RBF width: ``svr_gamma`` holds
      multiples of scikit-learn's ``'scale'`` heuristic, 1 / (n_features * X.var()), so they suit any feature width;
    - folds scored by mean squared error on the standardised target rather than MAPE;
    - hyperparameters tuned on at most ``tune_rows`` rows (a seeded random subset), then the kept model is refitted on
      all rows, so the fit time stays nearly flat as measurements accumulate (benchmarks/RESULTS.md, 'Scaling of the
      search overhead');
    - BLAS limited to one thread while fitting: these matrices are small, so extra threads cost more in hand-off and
      contention than they save, and on a busy machine threaded BLAS makes the many small fits far slower (the
      reference configuration with and without one thread: benchmarks/RESULTS.md, 'Metric predictors on the shared
      OFA MobileNetV3 data' and 'Search overhead of one loop').

    Give it the features from `active_block_features` (or `active_block_onehot`); any numeric matrix works.
    Fewer rows than ``cv`` folds use one fold per row; a single row predicts its value everywhere.
    ``seed`` (None, int or numpy Generator) draws the folds and the tuning subset; global random state is never used.
    Fitted attributes: ``selected_`` (name of the kept model), ``estimator_``, ``cv_scores_`` (best score per model:
    negated MSE in units of the target's variance), ``y_mean_``, ``y_scale_``.
    """

    def __init__(
        self,
        *,
        alphas: tuple[float, ...] = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0),
        svr_C: tuple[float, ...] = (3.0, 10.0, 30.0, 100.0),
        svr_gamma: tuple[float, ...] = (0.25, 0.5, 1.0),
        svr_epsilon: float = 0.01,
        cv: int = 5,
        tune_rows: int = 500,
        seed: None | int | np.random.Generator = 0,
    ) -> None:
        self.alphas = alphas
        self.svr_C = svr_C
        self.svr_gamma = svr_gamma
        self.svr_epsilon = svr_epsilon
        self.cv = cv
        self.tune_rows = tune_rows
        self.seed = seed

    def fit(self, X, y) -> Predictor:
        X, y = _check_xy(X, y)
        self.n_features_in_ = X.shape[1]
        self.y_mean_ = float(y.mean())
        std = float(y.std())
        self.y_scale_ = std if std > 0 else 1.0
        z = (y - self.y_mean_) / self.y_scale_
        if len(y) < 2:
            self.selected_, self.cv_scores_ = "constant", {}
            self.estimator_ = Ridge(alpha=1.0).fit(X, z)  # one row: predicts that row's value (z = 0) everywhere
            return self
        rng = as_generator(self.seed)
        tune = rng.permutation(len(y))[: self.tune_rows]
        folds = KFold(min(self.cv, len(tune)), shuffle=True, random_state=int(rng.integers(2**31)))
        variance = float(X.var())
        gamma_scale = 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0
        candidates = {
            "ridge": (Ridge(), {"alpha": list(self.alphas)}),
            "svr": (
                SVR(kernel="rbf", epsilon=self.svr_epsilon),
                {"C": list(self.svr_C), "gamma": [g * gamma_scale for g in self.svr_gamma]},
            ),
        }
        with threadpool_limits(1), _global_numpy_state_kept():
            self.selected_, best, self.cv_scores_ = _select(
                candidates, X[tune], z[tune], folds, "neg_mean_squared_error"
            )
            self.estimator_ = best if len(tune) == len(y) else clone(best).fit(X, z)
        logger.debug(
            "predictor fitted on %d rows: kept %s %s, CV scores %s",
            len(y),
            self.selected_,
            self.estimator_.get_params(),
            self.cv_scores_,
        )
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = check_array(np.atleast_2d(X), dtype=np.float64)
        with _one_blas_thread():
            return self.estimator_.predict(X) * self.y_scale_ + self.y_mean_


class ReferencePredictor(RegressorMixin, BaseEstimator):
    """BASELINE ONLY: the reference implementation's predictor configuration, kept to benchmark `Predictor` against.

    Ridge with ``alpha`` in 0.1, 0.2, ..., 10 and RBF-SVR (default gamma and epsilon) with ``C`` in 1, 2, ..., 100,
    each tuned by 5-fold `GridSearchCV` (unshuffled folds) scoring negative MAPE on the raw target, keeping the
    better; used on plain one-hot features (`Encoding.onehot`). (100 + 100) grid points x 5 folds: about 1,000 fits
    per call; no thread limit (its fit time: benchmarks/RESULTS.md, 'Metric predictors on the shared OFA MobileNetV3
    data').
    Fewer rows than folds use one fold per row.
    """

    def __init__(self, *, cv: int = 5) -> None:
        self.cv = cv

    def fit(self, X, y) -> ReferencePredictor:
        X, y = _check_xy(X, y)
        self.n_features_in_ = X.shape[1]
        if len(y) < 2:
            self.selected_, self.cv_scores_, self.estimator_ = "ridge", {}, Ridge(alpha=1.0).fit(X, y)
            return self
        candidates = {
            "ridge": (Ridge(), {"alpha": np.round(np.arange(1, 101) * 0.1, 1).tolist()}),
            "svr": (SVR(kernel="rbf"), {"C": list(range(1, 101))}),
        }
        self.selected_, self.estimator_, self.cv_scores_ = _select(
            candidates, X, y, KFold(min(self.cv, len(y))), "neg_mean_absolute_percentage_error"
        )
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(check_array(np.atleast_2d(X), dtype=np.float64))
