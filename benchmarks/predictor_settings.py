"""`Predictor` settings against held-out quality and fit time, on the shared OFA MobileNetV3 rows.

For each number of training rows and each value of each swept `Predictor` parameter (the others at their defaults):
fit on a seeded random subset of the distinct shared DyNAS-T rows (`search_overhead.split_rows`, active-block
features), Kendall tau of the predictions on up to 3,000 of the held-out rows, and the fit's wall time (a fit that
tunes, as the first loop after each doubling of the measurements does); means over ``--splits`` subsets.

    .venv/bin/python benchmarks/predictor_settings.py [--rows 30,60,120,250,500,1000,2000]
        [--sweep svr_tol=0.01,0.03,0.1] [--sweep tune_rows=500,300] [--splits 3] [--metric accuracy_top1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search_overhead import MBV3, split_rows  # noqa: E402


def parse_sweep(text: str) -> tuple[str, list[float | int]]:
    """'svr_tol=0.01,0.03' -> ('svr_tol', [0.01, 0.03]); integers stay integers."""
    name, _, values = text.partition("=")
    parsed = [float(v) if any(c in v for c in ".e") else int(v) for v in values.split(",")]
    return name.strip(), parsed


def measure(rows: int, settings: dict, splits: int, metric: str) -> tuple[float, float]:
    """(mean held-out Kendall tau, mean fit seconds) of `Predictor(**settings)` fitted on ``rows`` rows."""
    from scipy.stats import kendalltau

    from neural_nas.predictors import Predictor
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(MBV3)
    taus, seconds = [], []
    for split in range(splits):
        train_x, train_y, test_x, test_y = split_rows(rows, split)
        features, held_out = supernet.features(train_x), supernet.features(test_x[:3000])
        start = time.perf_counter()
        predictor = Predictor(seed=split, **settings).fit(features, train_y[metric])
        seconds.append(time.perf_counter() - start)
        taus.append(kendalltau(predictor.predict(held_out), test_y[metric][:3000])[0])
    return float(np.mean(taus)), float(np.mean(seconds))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="30,60,120,250,500,1000,2000")
    parser.add_argument("--sweep", action="append", default=None, help="parameter=value,value,... (repeatable)")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--metric", default="accuracy_top1", choices=("accuracy_top1", "macs"))
    args = parser.parse_args(argv)
    sweeps = [parse_sweep(s) for s in (args.sweep or ["svr_tol=0.01,0.03,0.1", "tune_rows=500,300"])]
    results: dict = {}
    print(f"{args.metric}: held-out Kendall tau / fit seconds, mean of {args.splits} splits")
    for name, values in sweeps:
        print(f"\n{'rows':>6} " + " ".join(f"{f'{name}={v}':>20}" for v in values))
        for rows in (int(r) for r in args.rows.split(",")):
            cells = []
            for value in values:
                tau, seconds = measure(rows, {name: value}, args.splits, args.metric)
                results[(name, value, rows)] = {"tau": tau, "seconds": seconds}
                cells.append(f"{tau:.4f} / {seconds:5.2f} s")
            print(f"{rows:>6} " + " ".join(f"{c:>20}" for c in cells), flush=True)
    return results


if __name__ == "__main__":
    main()
