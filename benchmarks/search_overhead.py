"""Search overhead of one Dynamic NAS loop: everything that is not a measurement, ours vs the reference configuration.

One loop's overhead = fitting the predictors on the measurements so far + the evolutionary search on them (NSGA-II,
population 50, 20,000 predicted evaluations) + picking the population to measure. Measured on the shared DyNAS-T rows
(``shared/data/dynast_ofa_mbv3_w1.0``: distinct sub-networks, re-measurements averaged, a seeded random ``--rows``
of them as "measured so far", the rest held out for rank correlation), in one process:

- ours: `Predictor` on active-block features for top-1; MACs exact from the lookup tables (not predicted);
- reference: `ReferencePredictor` (Ridge alpha 0.1..10 step 0.1 and RBF-SVR C 1..100, 5-fold grid search on MAPE)
  on one-hot features for top-1 AND for MACs (the reference predicts MACs), as configured (BLAS threads unlimited);
- reference, 1 BLAS thread: the same, fitted under ``threadpool_limits(1)`` (on a busy 2-core machine threaded BLAS
  slows its many tiny Ridge fits down by an order of magnitude; this row shows the reference at its best).

Both run the same vectorised pymoo problem and NSGA-II, so the difference is the predictors and what they cost to
query (the reference's own loop also evaluated individuals one at a time; that extra cost is not counted here).

    .venv/bin/python benchmarks/search_overhead.py [--rows 250] [--inner-evals 20000] [--population 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _surrogate import dedup, load_rows  # noqa: E402

MBV3 = "ofa_mbv3_d234_e346_k357_w1.0"


Split = tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]


def split_rows(n_train: int, seed: int = 0) -> Split:
    """(train vectors, train {metric: values}, held-out vectors, held-out values) from the distinct shared rows."""
    vectors, top1 = dedup(*load_rows(metric="Top-1 Acc (%)"))
    macs = dedup(*load_rows(metric="MACs"))[1]
    order = np.random.default_rng(seed).permutation(len(vectors))
    train, test = order[:n_train], order[n_train:]
    return (
        vectors[train],
        {"accuracy_top1": top1[train], "macs": macs[train]},
        vectors[test],
        {"accuracy_top1": top1[test], "macs": macs[test]},
    )


class _Fitted:
    """A fitted estimator on a feature map, queried with index vectors (what the pymoo problem hands over)."""

    def __init__(self, estimator: Any, features: Any) -> None:
        self.estimator, self.features = estimator, features

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        return self.estimator.predict(self.features(vectors))


def one_loop(
    kind: str, train_x: np.ndarray, train_y: dict[str, np.ndarray], population: int, inner_evals: int, seed: int = 0
) -> tuple[dict[str, float], dict[str, Any]]:
    """Overhead of one loop with ``kind`` 'ours', 'reference' or 'reference, 1 BLAS thread':
    ({phase: seconds}, {metric: predictor})."""
    import contextlib

    from pymoo.optimize import minimize
    from threadpoolctl import threadpool_limits

    from neural_nas.evolution import SubnetProblem, algorithm_for
    from neural_nas.evolution.tactics import MIN_INNER_POPULATION, best_first
    from neural_nas.predictors import ExactMetric, Predictor, ReferencePredictor
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(MBV3)
    supernet.exact_metrics(train_x[:1])  # lookup tables built once per process, outside the timing
    times: dict[str, float] = {}
    predictors: dict[str, Any] = {}
    for metric in ("accuracy_top1", "macs"):
        start = time.perf_counter()
        if kind == "ours" and metric == "macs":
            predictors[metric] = ExactMetric(supernet, metric)
        elif kind == "ours":
            estimator = Predictor(seed=seed).fit(supernet.features(train_x), train_y[metric])
            predictors[metric] = _Fitted(estimator, supernet.features)
        else:
            limit = threadpool_limits(1) if "1 BLAS thread" in kind else contextlib.nullcontext()
            with limit:
                estimator = ReferencePredictor().fit(supernet.encoding.onehot(train_x), train_y[metric])
            predictors[metric] = _Fitted(estimator, supernet.encoding.onehot)
        times[f"fit {metric}"] = time.perf_counter() - start

    start = time.perf_counter()
    problem = SubnetProblem(supernet.encoding.cardinalities, [p.predict for p in predictors.values()], [True, False])
    algorithm = algorithm_for("nsga2", 2).build(max(population, MIN_INNER_POPULATION), seed)
    result = minimize(problem, algorithm, ("n_eval", inner_evals), seed=seed, verbose=False)
    measured = {row.tobytes() for row in train_x}
    ranked = best_first(problem.as_indices(result.pop.get("X")), result.pop.get("F"))
    chosen = [row for row in ranked if row.tobytes() not in measured][:population]
    times["inner search"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    times["chosen"] = len(chosen)
    return times, predictors


def held_out_quality(predictors: dict[str, Any], test_x: np.ndarray, test_y: dict[str, np.ndarray]) -> dict[str, dict]:
    from neural_nas.predictors import quality

    return {m: quality(test_y[m], p.predict(test_x)) for m, p in predictors.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250, help="measurements so far (distinct shared rows)")
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--inner-evals", type=int, default=20000)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of ours and of the 1-thread reference (median); the unlimited reference runs once",
    )
    args = parser.parse_args(argv)

    train_x, train_y, test_x, test_y = split_rows(args.rows)
    print(
        f"{args.rows} measured rows, {len(test_x)} held out; population {args.population}, "
        f"{args.inner_evals} predicted evaluations"
    )
    results: dict[str, dict] = {}
    for kind, repeats in (("ours", args.repeats), ("reference", 1), ("reference, 1 BLAS thread", args.repeats)):
        runs = [one_loop(kind, train_x, train_y, args.population, args.inner_evals, seed=r) for r in range(repeats)]
        phases = {k: float(np.median([t[k] for t, _ in runs])) for k in runs[0][0]}
        results[kind] = {"times": phases, "quality": held_out_quality(runs[0][1], test_x, test_y)}

    print(
        f"\n{'':25s} {'fit top-1 s':>12s} {'fit MACs s':>11s} {'inner search s':>15s} {'total s':>8s} "
        f"{'top-1 tau':>10s} {'top-1 MAPE %':>13s} {'MACs tau':>9s} {'MACs MAPE %':>12s}"
    )
    for kind, r in results.items():
        t, q = r["times"], r["quality"]
        print(
            f"{kind:25s} {t['fit accuracy_top1']:12.2f} {t['fit macs']:11.3f} {t['inner search']:15.2f} "
            f"{t['total']:8.2f} {q['accuracy_top1']['kendall_tau']:10.3f} {q['accuracy_top1']['mape']:13.3f} "
            f"{q['macs']['kendall_tau']:9.3f} {q['macs']['mape']:12.3f}"
        )
    ours = results["ours"]
    for kind in ("reference", "reference, 1 BLAS thread"):
        speedup = results[kind]["times"]["total"] / ours["times"]["total"]
        print(
            f"ours is {speedup:.1f}x faster per loop than the {kind} (target >= 5x); top-1 tau "
            f"{ours['quality']['accuracy_top1']['kendall_tau']:.3f} vs "
            f"{results[kind]['quality']['accuracy_top1']['kendall_tau']:.3f}"
        )
    results["speedup"] = results["reference"]["times"]["total"] / ours["times"]["total"]
    return results


if __name__ == "__main__":
    main()
