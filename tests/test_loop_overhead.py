"""The cheap parts of a Dynamic NAS loop: predictor tuning reused across loops, the fast model selection, the SVR's
matrix-product predict, and the numpy NSGA-II of the ``linas`` inner search."""

import numpy as np
import pytest
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.svm import SVR

from neural_nas import NAS
from neural_nas.evolution import SubnetProblem, algorithm_for
from neural_nas.evolution.numpy_nsga2 import nsga2
from neural_nas.pareto import non_dominated_ranks, survivors
from neural_nas.predictors import Predictor, active_block_features
from neural_nas.supernets.ofa_mbv3 import MBCONV_ENCODING as MBV3


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Active-block features of random OFA MobileNetV3 vectors and a smooth noisy target of them."""
    F = active_block_features(MBV3, MBV3.random_vectors(n, seed)).astype(np.float64)
    rng = np.random.default_rng(seed)
    return F, F[:, 135:].sum(axis=1) + 0.3 * np.sin(F[:, 140] * 3) + rng.normal(0, 0.05, n)


# ---- tuning reused across loops ------------------------------------------------------------------------------------


def test_refitted_keeps_the_tuning_until_the_rows_grow_enough():
    F, y = _rows(160, 0)
    first = Predictor(seed=3, retune_growth=2.0).fit(F[:60], y[:60])
    assert first.retuned_ and first.tuned_rows_ == 60
    kept = first.refitted(F[:119], y[:119])  # below 2 x 60 rows: same model and hyperparameters, all rows fitted
    assert not kept.retuned_ and kept.tuned_rows_ == 60 and kept.selected_ == first.selected_
    assert kept.cv_scores_ == first.cv_scores_
    assert kept.estimator_.get_params() == first.estimator_.get_params()
    assert kept.estimator_ is not first.estimator_ and kept is not first
    refit_by_hand = type(first.estimator_)(**first.estimator_.get_params()).fit(
        F[:119], (y[:119] - kept.y_mean_) / kept.y_scale_
    )
    np.testing.assert_allclose(kept.predict(F), refit_by_hand.predict(F) * kept.y_scale_ + kept.y_mean_, atol=1e-9)
    retuned = kept.refitted(F[:120], y[:120])  # 2 x 60 rows: tuned again, on these rows
    assert retuned.retuned_ and retuned.tuned_rows_ == 120


def test_a_retuning_refit_is_a_fresh_fit_and_is_deterministic_per_seed():
    F, y = _rows(150, 1)
    earlier = Predictor(seed=0).fit(F[:40], y[:40])
    retuned = earlier.refitted(F, y, seed=5)
    fresh = Predictor(seed=5).fit(F, y)
    assert retuned.retuned_ and retuned.selected_ == fresh.selected_ and retuned.cv_scores_ == fresh.cv_scores_
    np.testing.assert_array_equal(retuned.predict(F), fresh.predict(F))
    np.testing.assert_array_equal(earlier.refitted(F, y, seed=5).predict(F), retuned.predict(F))
    assert retuned.get_params()["seed"] == 5 and earlier.get_params()["seed"] == 0


def test_refitted_from_an_unfitted_or_single_row_predictor_tunes():
    F, y = _rows(30, 2)
    assert Predictor(seed=1).refitted(F, y).retuned_
    one = Predictor(seed=1).fit(F[:1], y[:1])
    assert one.selected_ == "constant" and one.refitted(F, y).retuned_


# ---- the fast model selection is scikit-learn's grid search -------------------------------------------------------


@pytest.mark.parametrize(("n", "seed"), [(12, 0), (80, 1), (200, 2)])
def test_model_selection_matches_gridsearchcv(n, seed):
    F, y = _rows(n, seed)
    model = Predictor(seed=seed).fit(F, y)
    # The same folds as the predictor draws them: a permutation of the rows, then a seeded shuffled KFold.
    rng = np.random.default_rng(seed)
    tune = rng.permutation(n)[: model.tune_rows]
    folds = KFold(min(model.cv, len(tune)), shuffle=True, random_state=int(rng.integers(2**31)))
    z = (y - y.mean()) / y.std()
    gamma_scale = 1.0 / (F.shape[1] * float(F.var()))
    grids = {
        "ridge": GridSearchCV(Ridge(), {"alpha": list(model.alphas)}, cv=folds, scoring="neg_mean_squared_error"),
        "svr": GridSearchCV(
            SVR(kernel="rbf", epsilon=model.svr_epsilon, tol=model.svr_tol),
            {"C": list(model.svr_C), "gamma": [g * gamma_scale for g in model.svr_gamma]},
            cv=folds,
            scoring="neg_mean_squared_error",
        ),
    }
    searches = {name: grid.fit(F[tune], z[tune]) for name, grid in grids.items()}
    for name, search in searches.items():
        assert model.cv_scores_[name] == pytest.approx(search.best_score_, rel=1e-6, abs=1e-9), name
    assert model.selected_ == max(searches, key=lambda k: searches[k].best_score_)
    best = searches[model.selected_].best_params_
    kept = model.estimator_.get_params()
    assert all(kept[key] == pytest.approx(value) for key, value in best.items())


def test_svr_predict_matches_libsvm():
    F, y = _rows(150, 4)
    model = Predictor(seed=0, alphas=(1e6,)).fit(F, y)  # a useless Ridge: the SVR is kept
    assert model.selected_ == "svr"
    queries = active_block_features(MBV3, MBV3.random_vectors(5000, 5)).astype(np.float64)
    libsvm = model.estimator_.predict(queries) * model.y_scale_ + model.y_mean_
    np.testing.assert_allclose(model.predict(queries), libsvm, rtol=0, atol=1e-9)


# ---- the numpy NSGA-II ----------------------------------------------------------------------------------------------


def _toy_problem(cardinality: int = 7, genes: int = 4) -> SubnetProblem:
    weights = np.arange(1, genes + 1, dtype=float)
    gain = lambda v: v @ weights + np.sin(v).sum(axis=1)  # noqa: E731
    cost = lambda v: (v.astype(float) ** 2).sum(axis=1)  # noqa: E731
    return SubnetProblem(np.full(genes, cardinality), [gain, cost], [True, False])


def test_non_dominated_ranks_match_pymoo():
    rng = np.random.default_rng(0)
    for objectives in (rng.integers(0, 6, size=(120, 2)).astype(float), rng.normal(size=(90, 3))):
        expected = NonDominatedSorting().do(objectives, return_rank=True)[1]
        np.testing.assert_array_equal(non_dominated_ranks(objectives), expected)
        partial = non_dominated_ranks(objectives, stop_after=30)
        ranked = partial < len(objectives)
        assert ranked.sum() >= 30 and (partial[ranked] == expected[ranked]).all()
        assert (expected[~ranked] > partial[ranked].max()).all()


def test_survivors_take_whole_fronts_then_the_least_crowded():
    objectives = np.array([[0.0, 4], [1, 3], [2, 2], [3, 1], [4, 0], [1, 5], [5, 5]])  # a front of 5, then 2
    kept, ranks, _ = survivors(objectives, 3)
    assert set(kept.tolist()) <= set(range(5)) and (ranks == 0).all()
    assert {0, 4} <= set(kept.tolist())  # the extremes are infinitely uncrowded
    assert survivors(objectives, 6)[0].tolist() == [0, 1, 2, 3, 4, 5]  # whole fronts keep their rows' order
    assert survivors(objectives[::-1], 6)[0].tolist() == [2, 3, 4, 5, 6, 1]


def test_nsga2_keeps_the_first_populations_order_and_drops_its_repeats():
    first = np.array([[3, 0], [0, 3], [2, 1], [0, 3], [1, 2]])  # 4 distinct rows
    trade_off = lambda v: np.column_stack([v[:, 0], -v[:, 0]]).astype(float)  # noqa: E731  no row dominates another
    found, _ = nsga2(trade_off, np.array([4, 4]), first, 4, np.random.default_rng(0))  # none left for children
    assert found.tolist() == [[3, 0], [0, 3], [2, 1], [1, 2]]


def test_nsga2_returns_distinct_valid_vectors_and_approaches_the_front():
    problem = _toy_problem()
    every = np.stack(np.meshgrid(*[np.arange(7)] * 4, indexing="ij"), axis=-1).reshape(-1, 4)
    values = problem.minimised(every)
    front = {tuple(v) for v in values[non_dominated_ranks(values, stop_after=1) == 0]}
    first = np.random.default_rng(0).integers(0, 7, size=(30, 4))
    found, found_values = nsga2(problem.minimised, problem.xu + 1, first, 3000, np.random.default_rng(1))
    assert found.shape == (30, 4) and found.dtype == np.int64
    assert len(np.unique(found, axis=0)) == 30 and found.min() >= 0 and found.max() <= 6
    np.testing.assert_array_equal(found_values, problem.minimised(found))
    on_front = sum(tuple(v) in front for v in found_values)
    assert on_front >= 15  # a random population of 30 holds about one of the space's front points
    again = nsga2(problem.minimised, problem.xu + 1, first, 3000, np.random.default_rng(1))
    np.testing.assert_array_equal(again[0], found)


def test_nsga2_counts_evaluations_and_stops_in_a_tiny_space():
    calls = []

    def counting(vectors):
        calls.append(len(vectors))
        return _toy_problem(3, 2).minimised(vectors)

    first = np.array([[0, 0], [1, 1], [2, 2], [0, 2]])
    found, _ = nsga2(counting, np.array([3, 3]), first, 500, np.random.default_rng(0))
    assert sum(calls) == 500 and calls[0] == 4 and len(np.unique(found, axis=0)) == 4
    calls.clear()
    found, _ = nsga2(counting, np.array([3, 3]), np.arange(10).reshape(5, 2) % 3, 500, np.random.default_rng(0))
    assert calls == [len(found)]  # 9 networks cannot give 5 parents 5 distinct new children: no generation runs


def test_nsga2_algorithm_has_the_numpy_inner_search_and_others_do_not():
    assert algorithm_for("nsga2", 2).inner_search is not None
    assert algorithm_for("age", 2).inner_search is None and algorithm_for(None, 3).inner_search is None


# ---- in a search -----------------------------------------------------------------------------------------------------


def test_a_search_reuses_the_tuning_until_the_measurements_double(in_tmp, monkeypatch, dynas_config, synthetic):
    import neural_nas.approaches.dynas.driver as driver_module

    fits, real_fit = [], driver_module.fit_predictor

    def recording(*args, **kwargs):
        predictor = real_fit(*args, **kwargs)
        if hasattr(predictor, "estimator"):
            fits.append((predictor.estimator.tuned_rows_, predictor.estimator.retuned_))
        return predictor

    monkeypatch.setattr(driver_module, "fit_predictor", recording)
    agent = NAS(
        dynas_config("synthetic_for_tests", ("acc", "macs"), population=10, num_evals=60, initial_population=10)
    )
    agent.search()
    # top-1 is predicted (MACs are not exact here: both metrics are fitted); rows 10, 20, 30, 40, 50
    top1 = fits[0::2]
    assert top1 == [(10, True), (20, True), (20, False), (40, True), (40, False)]
    assert len(synthetic.calls) == len(set(synthetic.calls)) == 60
