"""Predictor quality on real measurements: `Predictor` vs the reference's configuration, on the same split.

Train on the first N rows of one DyNAS-T results file (default: the LINAS NSGA-II run, top-1), then rank the
sub-networks of the other four files that are not in the training set, per file and pooled. Re-measured duplicates
are averaged. Prints Kendall tau, MAPE and the fit time.

    .venv/bin/python benchmarks/predictor_quality.py [--n-train 250] [--metric "Top-1 Acc (%)"]
"""

from __future__ import annotations

import argparse
import ast
import csv
import time
from pathlib import Path

import numpy as np

from neural_nas.predictors import Predictor, ReferencePredictor, active_block_features, quality
from neural_nas.supernets.encoding import Encoding

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "dynast_ofa_mbv3_w1.0"
TRAIN_FILE = "mbnv3w10_linasnsga2_acc_macs.csv"
ENCODING = Encoding(
    {
        "ks": {"count": 20, "vars": [3, 5, 7]},
        "e": {"count": 20, "vars": [3, 4, 6]},
        "d": {"count": 5, "vars": [2, 3, 4]},
    }
)


def load(path: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(index vectors, metric values) in file order."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    X = np.array([ENCODING.dict_to_vector(ast.literal_eval(r["Sub-network"])) for r in rows], dtype=np.int64)
    return X, np.array([float(r[metric]) for r in rows])


def dedup(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per distinct sub-network; re-measurements averaged (they differ by measurement noise only)."""
    X, inverse = np.unique(X, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return X, np.bincount(inverse, y) / np.bincount(inverse)


def split(data: Path, n_train: int, metric: str) -> tuple[tuple, dict[str, tuple]]:
    """Training rows and held-out sets: each other file without training sub-networks, and those files pooled."""
    X, y = load(data / TRAIN_FILE, metric)
    train = dedup(X[:n_train], y[:n_train])
    seen = {row.tobytes() for row in train[0]}
    tests, pooled_X, pooled_y = {}, [], []
    for path in sorted(data.glob("*.csv")):
        if path.name == TRAIN_FILE:
            continue
        X, y = load(path, metric)
        keep = np.array([row.tobytes() not in seen for row in X])
        tests[path.stem] = dedup(X[keep], y[keep])
        pooled_X.append(X[keep])
        pooled_y.append(y[keep])
    tests["pooled"] = dedup(np.concatenate(pooled_X), np.concatenate(pooled_y))
    return train, tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n-train", type=int, default=250)
    parser.add_argument("--metric", default="Top-1 Acc (%)")
    args = parser.parse_args()

    (X_train, y_train), tests = split(args.data, args.n_train, args.metric)
    contenders = [  # name, estimator, feature map
        ("Predictor, active-block features", Predictor(seed=0), lambda X: active_block_features(ENCODING, X)),
        ("Predictor, plain one-hot (ablation)", Predictor(seed=0), ENCODING.onehot),
        ("ReferencePredictor, one-hot (baseline)", ReferencePredictor(), ENCODING.onehot),
    ]
    print(
        f"metric {args.metric!r}; trained on the first {args.n_train} rows of {TRAIN_FILE} "
        f"({len(y_train)} distinct); held-out rows exclude training sub-networks"
    )
    print(f"{'predictor':40s} {'fit s':>6s}  {'test set':38s} {'rows':>5s} {'tau':>6s} {'MAPE %':>7s}")
    for name, estimator, features in contenders:
        start = time.perf_counter()
        estimator.fit(features(X_train), y_train)
        fit_s = time.perf_counter() - start
        for i, (test_name, (X, y)) in enumerate(tests.items()):
            q = quality(y, estimator.predict(features(X)))
            print(
                f"{name if i == 0 else '':40s} {f'{fit_s:.2f}' if i == 0 else '':>6s}  {test_name:38s} {len(y):5d} "
                f"{q['kendall_tau']:6.3f} {q['mape']:7.3f}"
            )
        kept = {k: v for k, v in estimator.estimator_.get_params().items() if k in ("alpha", "C", "gamma", "epsilon")}
        print(f"{'':40s} kept: {estimator.selected_} {kept}")


if __name__ == "__main__":
    main()
