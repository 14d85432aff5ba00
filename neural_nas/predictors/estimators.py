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


# The models `Predictor` chooses between; hyperparameters are set on a clone.
_MODELS = {"ridge": Ridge(), "svr": SVR(kernel="rbf")}


def _squared_distances(A: np.ndarray, B: np.ndarray, B_squared: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distance of every row of ``A`` to every row of ``B`` (libsvm's RBF formula); ``B_squared``:
    the squared norms of ``B``'s rows, if known."""
    if B_squared is None:
        B_squared = (B * B).sum(axis=1)
    out = (A * A).sum(axis=1)[:, None] + B_squared[None, :] - 2.0 * (A @ B.T)
    return np.maximum(out, 0.0)


def _ridge_fold_mse(
    X: np.ndarray, z: np.ndarray, X_test: np.ndarray, z_test: np.ndarray, alphas: tuple[float, ...]
) -> np.ndarray:
    """Held-out MSE of Ridge (with intercept) for every alpha, from one eigendecomposition of the centred rows' Gram
    matrix: Ridge's normal equations (X'X + alpha I) w = X'z, solved for all alphas at once (a symmetric
    eigensolver always converges, where an SVD of a degenerate matrix may not)."""
    x_mean, z_mean = X.mean(axis=0), z.mean()
    centred = X - x_mean
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)
    projected = vectors.T @ (centred.T @ (z - z_mean))
    test_projected = (X_test - x_mean) @ vectors
    out = np.empty(len(alphas))
    for i, alpha in enumerate(alphas):
        out[i] = np.mean((test_projected @ (projected / (np.maximum(eigenvalues, 0.0) + alpha)) + z_mean - z_test) ** 2)
    return out


class _RBFExpansion:
    """A fitted RBF SVR's prediction as matrix products: libsvm evaluates the kernel one pair at a time, which
    dominated predicting a whole search space or an inner search's populations. Same values as ``model.predict``."""

    def __init__(self, model: SVR) -> None:
        self.vectors = np.asarray(model.support_vectors_, dtype=np.float64)
        self.squared = (self.vectors * self.vectors).sum(axis=1)
        self.weights = model.dual_coef_.ravel()
        self.gamma, self.intercept = float(model.gamma), float(model.intercept_[0])

    def predict(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        out = np.empty(len(X))
        for start in range(0, len(X), chunk):
            distances = _squared_distances(X[start : start + chunk], self.vectors, self.squared)
            out[start : start + chunk] = np.exp(-self.gamma * distances) @ self.weights + self.intercept
        return out


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
      OFA MobileNetV3 data' and 'Search overhead of one loop');
    - libsvm's stopping tolerance ``svr_tol`` at 0.03 on the standardised target instead of its default 0.001, and
      ``tune_rows`` 300: fits on thousands of rows in a third to a half of the time at the same held-out rank
      correlation (benchmarks/RESULTS.md, 'Closing issue 14');
    - `refitted` reuses the last tuning's choice on a grown set of rows until it has grown ``retune_growth`` times
      (Dynamic NAS refits every loop; the loop's cost: benchmarks/RESULTS.md, 'Loop overhead after issue 14').

    Give it the features from `active_block_features` (or `active_block_onehot`); any numeric matrix works.
    Fewer rows than ``cv`` folds use one fold per row; a single row predicts its value everywhere.
    ``seed`` (None, int or numpy Generator) draws the folds and the tuning subset; global random state is never used.
    Fitted attributes: ``selected_`` (name of the kept model), ``estimator_``, ``cv_scores_`` (best score per model:
    negated MSE in units of the target's variance), ``y_mean_``, ``y_scale_``, ``tuned_rows_`` (rows when the
    hyperparameters were chosen), ``retuned_`` (whether this fit chose them).
    """

    def __init__(
        self,
        *,
        alphas: tuple[float, ...] = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0),
        svr_C: tuple[float, ...] = (3.0, 10.0, 30.0, 100.0),
        svr_gamma: tuple[float, ...] = (0.25, 0.5, 1.0),
        svr_epsilon: float = 0.01,
        svr_tol: float = 0.03,
        cv: int = 5,
        tune_rows: int = 300,
        retune_growth: float = 2.0,
        seed: None | int | np.random.Generator = 0,
    ) -> None:
        self.alphas = alphas
        self.svr_C = svr_C
        self.svr_gamma = svr_gamma
        self.svr_epsilon = svr_epsilon
        self.svr_tol = svr_tol
        self.cv = cv
        self.tune_rows = tune_rows
        self.retune_growth = retune_growth
        self.seed = seed

    def fit(self, X, y) -> Predictor:
        """Tune the model choice and its hyperparameters by cross-validation, then fit the kept model on all rows."""
        return self._fit(X, y, kept=None)

    def refitted(self, X, y, seed: None | int | np.random.Generator = None) -> Predictor:
        """A new `Predictor` (same parameters, ``seed`` if given) fitted on ``X, y``, the rows so far of a growing set.

        It keeps this one's model choice and hyperparameters while the rows number less than ``retune_growth`` times
        those they were tuned on (cross-validation is most of a fit's cost, and the choice changes little as rows
        accumulate); otherwise, or if this one is not fitted, it tunes again. The kept model is always fitted on all
        of ``X, y``. ``retuned_`` says which happened.
        """
        params = self.get_params()
        if seed is not None:
            params["seed"] = seed
        fresh = type(self)(**params)
        tuned_on = getattr(self, "tuned_rows_", None)  # None: not fitted, or a one-row constant
        reuse = tuned_on is not None and len(np.atleast_1d(y)) < self.retune_growth * tuned_on
        kept = (self.selected_, self.estimator_.get_params(), self.cv_scores_, tuned_on) if reuse else None
        return fresh._fit(X, y, kept=kept)

    def _fit(self, X, y, kept: tuple | None) -> Predictor:
        X, y = _check_xy(X, y)
        self.n_features_in_ = X.shape[1]
        self.y_mean_ = float(y.mean())
        std = float(y.std())
        self.y_scale_ = std if std > 0 else 1.0
        z = (y - self.y_mean_) / self.y_scale_
        if len(y) < 2:
            self.selected_, self.cv_scores_, self.tuned_rows_, self.retuned_ = "constant", {}, None, False
            self.estimator_ = Ridge(alpha=1.0).fit(X, z)  # one row: predicts that row's value (z = 0) everywhere
            return self
        with threadpool_limits(1), _global_numpy_state_kept():
            if kept is None:
                rng = as_generator(self.seed)
                tune = rng.permutation(len(y))[: self.tune_rows]
                folds = KFold(min(self.cv, len(tune)), shuffle=True, random_state=int(rng.integers(2**31)))
                variance = float(X.var())  # of all rows: the RBF widths stay those of the whole set
                gamma_scale = 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0
                self.selected_, params, self.cv_scores_ = self._tune(X[tune], z[tune], folds, gamma_scale)
                self.tuned_rows_, self.retuned_ = len(y), True
            else:
                self.selected_, params, self.cv_scores_, self.tuned_rows_ = kept
                self.retuned_ = False
            self.estimator_ = clone(_MODELS[self.selected_]).set_params(**params).fit(X, z)
        logger.debug(
            "predictor fitted on %d rows (%s): kept %s %s, CV scores %s",
            len(y),
            "tuned" if self.retuned_ else f"hyperparameters tuned on {self.tuned_rows_} rows",
            self.selected_,
            self.estimator_.get_params(),
            self.cv_scores_,
        )
        return self

    def _tune(
        self, X: np.ndarray, z: np.ndarray, folds: KFold, gamma_scale: float
    ) -> tuple[str, dict, dict[str, float]]:
        """(kept model, its hyperparameters, best CV score per model): the grid search of the docstring, with every
        Ridge alpha from one eigendecomposition per fold and every SVR from one kernel matrix per gamma (the same
        models and folds as scikit-learn's GridSearchCV, without its per-fit overhead)."""
        splits = list(folds.split(X))
        ridge_mse = np.zeros(len(self.alphas))
        for train, test in splits:
            ridge_mse += _ridge_fold_mse(X[train], z[train], X[test], z[test], self.alphas)
        squared = _squared_distances(X, X)
        svr_points = [(C, g * gamma_scale) for C in self.svr_C for g in self.svr_gamma]
        svr_mse = np.zeros(len(svr_points))
        for gamma in sorted({g for _, g in svr_points}):
            kernel = np.exp(-gamma * squared)
            for i, (C, g) in enumerate(svr_points):
                if g != gamma:
                    continue
                for train, test in splits:
                    model = SVR(kernel="precomputed", C=C, epsilon=self.svr_epsilon, tol=self.svr_tol)
                    model.fit(kernel[np.ix_(train, train)], z[train])
                    svr_mse[i] += np.mean((model.predict(kernel[np.ix_(test, train)]) - z[test]) ** 2)
        # Scores as GridSearchCV reports them: negated MSE averaged over the folds; the first best point wins ties.
        ridge_scores, svr_scores = -ridge_mse / len(splits), -svr_mse / len(splits)
        scores = {"ridge": float(ridge_scores.max()), "svr": float(svr_scores.max())}
        best_C, best_gamma = svr_points[int(np.argmax(svr_scores))]
        params = {
            "ridge": {"alpha": float(self.alphas[int(np.argmax(ridge_scores))])},
            "svr": {"C": best_C, "gamma": best_gamma, "epsilon": self.svr_epsilon, "tol": self.svr_tol},
        }
        selected = max(scores, key=scores.get)
        return selected, params[selected], scores

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = check_array(np.atleast_2d(X), dtype=np.float64)
        with _one_blas_thread():
            return self._fast_model().predict(X) * self.y_scale_ + self.y_mean_

    def _fast_model(self):
        """The fitted model, an SVR as `_RBFExpansion` (built on first use after each fit)."""
        if not isinstance(self.estimator_, SVR):
            return self.estimator_
        if getattr(self, "_expansion", (None,))[0] is not self.estimator_:
            self._expansion = (self.estimator_, _RBFExpansion(self.estimator_))
        return self._expansion[1]


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
