"""Metric predictors: features, fitting on any amount of data, determinism, and the quality bar on real measurements."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from neural_nas.predictors import Predictor, ReferencePredictor, active_block_features, active_block_onehot, quality
from neural_nas.supernets.encoding import Encoding

MBV3 = Encoding(
    {
        "ks": {"count": 20, "vars": [3, 5, 7]},
        "e": {"count": 20, "vars": [3, 4, 6]},
        "d": {"count": 5, "vars": [2, 3, 4]},
    }
)
DATA = Path(__file__).resolve().parent / "data" / "dynast_ofa_mbv3_w1.0"  # a copy of shared/data (Apache-2.0)
TRAIN_FILE = "mbnv3w10_linasnsga2_acc_macs.csv"
TOP1 = "Top-1 Acc (%)"


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    X = np.array([MBV3.dict_to_vector(ast.literal_eval(r["Sub-network"])) for r in rows])
    return X, np.array([float(r[TOP1]) for r in rows])


def _dedup(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, inverse = np.unique(X, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return X, np.bincount(inverse, y) / np.bincount(inverse)


@pytest.fixture(scope="module")
def real_split():
    X, y = _load(DATA / TRAIN_FILE)
    train = _dedup(X[:250], y[:250])
    seen = {row.tobytes() for row in train[0]}
    held_out = {}
    for path in sorted(DATA.glob("*.csv")):
        if path.name != TRAIN_FILE:
            X, y = _load(path)
            keep = np.array([row.tobytes() not in seen for row in X])
            held_out[path.stem] = (X[keep], y[keep])
    pooled = _dedup(
        np.concatenate([X for X, _ in held_out.values()]), np.concatenate([y for _, y in held_out.values()])
    )
    held_out = {name: _dedup(X, y) for name, (X, y) in held_out.items()}
    held_out["pooled"] = pooled
    return train, held_out


def _features(X: np.ndarray) -> np.ndarray:
    return active_block_features(MBV3, X)


# ---- features -------------------------------------------------------------------------------------------------------


def _vector(ks: list[int], e: list[int], d: list[int]) -> np.ndarray:
    return MBV3.dict_to_vector({"ks": ks, "e": e, "d": d})


def test_active_block_onehot_zeroes_inactive_blocks():
    shallow = _vector([7] * 20, [6] * 20, [2] * 5)
    deep = _vector([7] * 20, [6] * 20, [4] * 5)
    out = active_block_onehot(MBV3, np.stack([shallow, deep]))
    assert out.shape == (2, 135)
    ks = out[:, :60].reshape(2, 20, 3)
    e = out[:, 60:120].reshape(2, 20, 3)
    position = np.arange(20) % 4
    # depth 2: blocks 0 and 1 of each stage are one-hot, blocks 2 and 3 all zero; depth 4: every block one-hot.
    assert (ks[0, position < 2].sum(axis=1) == 1).all() and (ks[0, position >= 2] == 0).all()
    assert (e[0, position >= 2] == 0).all() and (e[1].sum(axis=1) == 1).all()
    assert (ks[:, :, 2][ks.sum(axis=2) == 1] == 1).all()  # the chosen index (7 -> 2) is the hot one
    np.testing.assert_array_equal(out[:, 120:].reshape(2, 5, 3).argmax(axis=2), [[0] * 5, [2] * 5])


def test_active_block_onehot_ignores_genes_of_inactive_blocks_only():
    rng = np.random.default_rng(0)
    X = MBV3.random_vectors(200, rng)
    X[:, 40:45] = rng.integers(0, 3, size=(200, 5))
    scrambled = X.copy()
    d = np.array([2, 3, 4])[X[:, 40:45]]
    inactive = (np.arange(20) % 4)[None, :] >= np.repeat(d, 4, axis=1)
    scrambled[:, :20][inactive] = rng.integers(0, 3, size=inactive.sum())
    scrambled[:, 20:40][inactive] = rng.integers(0, 3, size=inactive.sum())
    np.testing.assert_array_equal(active_block_onehot(MBV3, X), active_block_onehot(MBV3, scrambled))
    np.testing.assert_array_equal(active_block_features(MBV3, X), active_block_features(MBV3, scrambled))
    changed = X.copy()
    changed[:, 0] = (changed[:, 0] + 1) % 3  # block 0 of stage 0 is always active
    assert (active_block_onehot(MBV3, changed) != active_block_onehot(MBV3, X)).any(axis=1).all()


def test_active_block_onehot_matches_plain_onehot_at_full_depth():
    X = MBV3.random_vectors(50, 1)
    X[:, 40:45] = 2
    np.testing.assert_array_equal(active_block_onehot(MBV3, X), MBV3.onehot(X))
    np.testing.assert_array_equal(active_block_onehot(MBV3, X[0]), MBV3.onehot(X[0]))


def test_active_block_features_appends_scaled_values():
    v = _vector([3, 5, 7, 7] * 5, [6] * 20, [3, 2, 4, 2, 2])
    out = active_block_features(MBV3, v, value_weight=1.0)
    assert out.shape == (180,)
    np.testing.assert_array_equal(out[:135], active_block_onehot(MBV3, v))
    np.testing.assert_allclose(out[135:139], [3 / 7, 5 / 7, 1, 0])  # stage 0 has depth 3: the 4th block is off
    np.testing.assert_allclose(out[175:], [3 / 4, 2 / 4, 1, 2 / 4, 2 / 4])


def test_features_reject_wrong_width_and_unknown_params():
    with pytest.raises(ValueError, match="45 genes"):
        active_block_onehot(MBV3, np.zeros((2, 44), dtype=int))
    with pytest.raises(KeyError, match="depth"):
        active_block_onehot(MBV3, np.zeros((2, 45), dtype=int), depth_param="depth")


# ---- estimator contract --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12])
def test_fits_on_tiny_data(n):
    X = MBV3.random_vectors(n, 3)
    y = np.linspace(70, 76, n)
    for model in (Predictor(), ReferencePredictor()):
        pred = model.fit(_features(X), y).predict(_features(MBV3.random_vectors(7, 4)))
        assert pred.shape == (7,) and np.isfinite(pred).all()
    if n == 1:
        np.testing.assert_allclose(Predictor().fit(_features(X), y).predict(_features(X[[0, 0]])), [70.0, 70.0])


def test_constant_target_and_single_row_prediction():
    X = _features(MBV3.random_vectors(20, 5))
    model = Predictor().fit(X, np.full(20, 3.0))
    np.testing.assert_allclose(model.predict(X), 3.0, atol=1e-6)
    assert model.predict(X[0]).shape == (1,)


def test_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="rows"):
        Predictor().fit(np.zeros((3, 4)), [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        Predictor().fit(np.zeros((3, 4)), [1.0, np.nan, 2.0])


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X = MBV3.random_vectors(n, seed)
    F = _features(X)
    rng = np.random.default_rng(seed)
    return F, F[:, 135:].sum(axis=1) + 0.3 * np.sin(F[:, 140] * 3) + rng.normal(0, 0.05, n)


def test_seeded_and_refit_from_a_fresh_clone():
    F, y = _synthetic(120, 0)
    a = Predictor(seed=7).fit(F, y)
    b = clone(a).fit(F, y)
    assert clone(a).get_params() == Predictor(seed=7).get_params() and not hasattr(clone(a), "estimator_")
    np.testing.assert_array_equal(a.predict(F), b.predict(F))
    g1, g2 = Predictor(seed=np.random.default_rng(3)), Predictor(seed=np.random.default_rng(3))
    np.testing.assert_array_equal(g1.fit(F, y).predict(F), g2.fit(F, y).predict(F))
    # Refitting on new data forgets the old fit.
    F2, y2 = _synthetic(80, 1)
    np.testing.assert_array_equal(a.fit(F2, y2).predict(F2), Predictor(seed=7).fit(F2, y2).predict(F2))


def test_global_random_state_is_untouched():
    F, y = _synthetic(60, 2)
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    Predictor(seed=1).fit(F, y)
    assert np.random.random() == before


def test_learns_a_smooth_target_and_records_choice():
    F, y = _synthetic(300, 4)
    Ft, yt = _synthetic(300, 5)
    model = Predictor().fit(F, y)
    assert quality(yt, model.predict(Ft))["kendall_tau"] > 0.9
    assert model.selected_ in {"ridge", "svr"} and set(model.cv_scores_) == {"ridge", "svr"}
    assert "svr_C" in model.get_params()


def test_tunes_on_a_subset_but_refits_on_all_rows():
    F, y = _synthetic(200, 6)
    model = Predictor(tune_rows=50).fit(F, y)
    assert model.estimator_.n_features_in_ == F.shape[1]
    assert (model.estimator_.support_.size if model.selected_ == "svr" else 200) > 50


# ---- quality --------------------------------------------------------------------------------------------------------


def test_quality():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert quality(y, y) == {"kendall_tau": 1.0, "mape": 0.0}
    assert quality(y, -y)["kendall_tau"] == -1.0
    np.testing.assert_allclose(quality(y, y * 1.1)["mape"], 10.0)
    assert np.isnan(quality([0.0, 1.0], [0.0, 1.0])["mape"])
    with pytest.raises(ValueError):
        quality([1.0, 2.0], [1.0])


# ---- the quality bar on real measurements --------------------------------------------------------------------------

# Held-out top-1 in mbnv3w10_linasga_acc spans only 76.9-77.5 (std 0.09) against re-measurement noise of std ~0.027,
# which caps any predictor's Kendall tau near 0.81 there; its bar is "far above the reference (-0.18)" instead.
BARS = {
    "mbnv3w10_evoga_acc": 0.85,
    "mbnv3w10_evonsga2_acc_macs": 0.85,
    "mbnv3w10_evounsga3_acc_macs_params": 0.85,
    "mbnv3w10_linasga_acc": 0.35,
    "pooled": 0.85,
}


def test_ranks_held_out_subnetworks_of_the_other_runs(real_split):
    (X, y), held_out = real_split
    assert len(y) == 250
    model = Predictor(seed=0).fit(_features(X), y)
    taus = {name: quality(yt, model.predict(_features(Xt)))["kendall_tau"] for name, (Xt, yt) in held_out.items()}
    assert set(taus) == set(BARS)
    failed = {name: round(tau, 3) for name, tau in taus.items() if not tau >= BARS[name]}
    assert not failed, f"Kendall tau below the bar: {failed} (all: {taus})"


@pytest.mark.slow
def test_beats_the_reference_configuration(real_split):
    (X, y), held_out = real_split
    Xt, yt = held_out["pooled"]
    ours = quality(yt, Predictor().fit(_features(X), y).predict(_features(Xt)))
    reference = quality(yt, ReferencePredictor().fit(MBV3.onehot(X), y).predict(MBV3.onehot(Xt)))
    assert ours["kendall_tau"] > reference["kendall_tau"] + 0.03
    assert ours["mape"] < reference["mape"]
