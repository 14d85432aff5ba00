"""Search overhead of one Dynamic NAS loop (everything that is not a measurement), ours beside the reference loop.

Three parts, in one run:

1. The 59,049-network space (`LookupSpace`: 5 genes of 9 choices, ``measure`` a formula, i.e. a table lookup's
   cost; top-1 predicted, MACs exact): whole searches of ``--small-budget`` measurements, population 50. Overhead per
   loop = (wall time - time inside ``measure``) / loops after the first population. Ours (the defaults: the space is
   searched exhaustively on the predictors, `evolution.tactics.EXHAUSTIVE_LIMIT`), ours with the predictors tuned
   every loop (as before issue 14), and the reference loop: `ReferencePredictor` on one-hot for every metric, a
   random first population of one population, pymoo's NSGA-II with 20,000 predicted evaluations on the predictors.
2. OFA MobileNetV3 (45 genes) at ``--rows`` measured rows (distinct shared DyNAS-T rows,
   ``shared/data/dynast_ofa_mbv3_w1.0``, a seeded random subset; the rest held out for Kendall tau): one loop =
   fitting the predictors + the inner search (20,000 predicted evaluations; population 50, ours at least
   `MIN_INNER_POPULATION`) + picking the population.
   Ours: `Predictor` on active-block features for top-1 (a loop that tunes its hyperparameters, and one that reuses
   the last tuning: `Predictor.refitted`), MACs exact, the numpy NSGA-II (`evolution.numpy_nsga2`). Reference:
   `ReferencePredictor` (5-fold grid search of 100 Ridge alphas and 100 SVR C values on MAPE) on one-hot for top-1
   AND MACs, as configured (BLAS threads unlimited) and with one BLAS thread, and pymoo's NSGA-II. Above 500 rows the
   reference's fits are timed on every ``--reference-grid-share``-th grid point and multiplied back (an estimate:
   the whole grid takes many minutes there).
3. Hypervolume per measurement on the OFA MobileNetV3 surrogate (`_surrogate.py`): ``linas`` now vs ``linas-before``
   (pymoo's NSGA-II as the inner search, predictors tuned every loop), ``--hv-seeds`` searches each.

    .venv/bin/python benchmarks/search_overhead.py [--rows 250,2000] [--repeats 3] [--small-seeds 3]
        [--small-reference-seeds 3] [--hv-seeds 5] [--hv-budget 500]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _surrogate import dedup, load_rows  # noqa: E402

from neural_nas.supernets import Encoding, SuperNetwork  # noqa: E402

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


def _reference_fit(X: np.ndarray, y: np.ndarray, grid_share: int) -> Any:
    """`ReferencePredictor`'s fit; with ``grid_share`` k > 1, on every k-th point of its grids only (a time estimate:
    the caller multiplies the fit time by k)."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold
    from sklearn.svm import SVR

    from neural_nas.predictors import ReferencePredictor
    from neural_nas.predictors.estimators import _select

    if grid_share == 1:
        return ReferencePredictor().fit(X, y)
    candidates = {
        "ridge": (Ridge(), {"alpha": np.round(np.arange(1, 101) * 0.1, 1)[::grid_share].tolist()}),
        "svr": (SVR(kernel="rbf"), {"C": list(range(1, 101))[::grid_share]}),
    }
    estimator = _select(candidates, X, y, KFold(5), "neg_mean_absolute_percentage_error")[1]
    return estimator


def one_loop(
    kind: str,
    train_x: np.ndarray,
    train_y: dict[str, np.ndarray],
    population: int,
    inner_evals: int,
    seed: int = 0,
    reference_grid_share: int = 1,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Overhead of one loop with ``kind``: ({phase: seconds}, {metric: predictor}).

    - 'ours': `Predictor` tuned on these rows (a loop that tunes), numpy NSGA-II (`evolution.numpy_nsga2`);
    - 'ours, tuning reused': `Predictor.refitted` from one fitted on all rows but the last ``population`` (a loop
      that keeps the hyperparameters), numpy NSGA-II;
    - 'reference' / 'reference, 1 BLAS thread': `ReferencePredictor` on one-hot for top-1 and MACs, pymoo NSGA-II.
    """
    import contextlib

    from pymoo.optimize import minimize
    from threadpoolctl import threadpool_limits

    from neural_nas.evolution import SubnetProblem, algorithm_for
    from neural_nas.evolution.tactics import MIN_INNER_POPULATION
    from neural_nas.pareto import best_first
    from neural_nas.predictors import ExactMetric, Predictor
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(MBV3)
    supernet.exact_metrics(train_x[:1])  # lookup tables built once per process, outside the timing
    features = supernet.features(train_x)
    earlier = None
    if kind == "ours, tuning reused":  # the last loop's predictor, outside the timing
        earlier = Predictor(seed=seed).fit(features[:-population], train_y["accuracy_top1"][:-population])
    times: dict[str, float] = {}
    predictors: dict[str, Any] = {}
    for metric in ("accuracy_top1", "macs"):
        start = time.perf_counter()
        if kind.startswith("ours") and metric == "macs":
            predictors[metric] = ExactMetric(supernet, metric)
        elif kind.startswith("ours"):
            if earlier is None:
                estimator = Predictor(seed=seed).fit(features, train_y[metric])
            else:
                estimator = earlier.refitted(features, train_y[metric], seed=seed)
                assert not estimator.retuned_, "the benchmark's reuse row must not tune"
            predictors[metric] = _Fitted(estimator, supernet.features)
        else:
            limit = threadpool_limits(1) if "1 BLAS thread" in kind else contextlib.nullcontext()
            with limit:
                estimator = _reference_fit(supernet.encoding.onehot(train_x), train_y[metric], reference_grid_share)
            predictors[metric] = _Fitted(estimator, supernet.encoding.onehot)
        times[f"fit {metric}"] = (time.perf_counter() - start) * (
            1 if kind.startswith("ours") else reference_grid_share
        )

    start = time.perf_counter()
    problem = SubnetProblem(supernet.encoding.cardinalities, [p.predict for p in predictors.values()], [True, False])
    # Ours searches the predictors with a population of at least MIN_INNER_POPULATION; the reference with its own.
    inner_population = max(population, MIN_INNER_POPULATION) if kind.startswith("ours") else population
    spec = algorithm_for("nsga2", 2)
    if kind.startswith("ours"):
        first = supernet.encoding.random_vectors(inner_population, seed)
        found, values = spec.inner_search(problem, first, inner_evals, np.random.default_rng(seed))
    else:
        algorithm = spec.build(inner_population, seed)
        result = minimize(problem, algorithm, ("n_eval", inner_evals), seed=seed, verbose=False)
        found, values = problem.as_indices(result.pop.get("X")), result.pop.get("F")
    measured = {row.tobytes() for row in train_x}
    chosen = [row for row in best_first(found, values) if row.tobytes() not in measured][:population]
    times["inner search"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    times["chosen"] = len(chosen)
    return times, predictors


def held_out_quality(predictors: dict[str, Any], test_x: np.ndarray, test_y: dict[str, np.ndarray]) -> dict[str, dict]:
    from neural_nas.predictors import quality

    return {m: quality(test_y[m], p.predict(test_x)) for m, p in predictors.items()}


# ---- the 59,049-network space: the whole loop of a search, where a measurement costs nothing --------------------

WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


class LookupSpace(SuperNetwork):
    """A user's super-network of 5 genes of 9 choices whose `measure` is a formula (a table lookup's cost)."""

    name = "lookup_space_59049"
    encoding = Encoding({"g": {"count": 5, "vars": list(range(9))}})
    metrics = ("accuracy_top1", "macs")
    exact_metric_names = ("macs",)
    measures_itself = True
    measure_seconds = 0.0

    def exact_metrics(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        v = np.atleast_2d(vectors).astype(float)
        return {"macs": 1e6 + 1e4 * (v**2 @ WEIGHTS[::-1])}

    def measure(self, subnet, metrics):
        start = time.perf_counter()
        v = np.asarray(subnet["g"], dtype=float)
        accuracy = 50 + 40 * (1 - np.exp(-(v @ WEIGHTS) / 40)) + 2 * np.sin(v).sum()
        out = {"accuracy_top1": float(accuracy), "macs": float(self.exact_metrics(v)["macs"][0])}
        type(self).measure_seconds += time.perf_counter() - start
        return out


def _small_space_hypervolume(points: np.ndarray) -> float:
    from pymoo.indicators.hv import HV

    f = np.column_stack([-points[:, 0], points[:, 1]])  # minimised: -top-1, MACs
    return float(HV(ref_point=np.array([-50.0, 1e6 + 1e4 * 81 * WEIGHTS.sum()]))(f))


def _reference_fit_predictor(supernet: Any, trials: Any, metric: str, rng: Any, previous: Any = None) -> Any:
    """The reference loop's predictors: `ReferencePredictor` on one-hot for every metric (it predicts MACs too)."""
    from neural_nas.predictors import ReferencePredictor, SubnetPredictor

    vectors = np.stack([supernet.encoding.dict_to_vector(t.arch) for t in trials])

    class OneHot:  # `SubnetPredictor` queries ``supernet.features``; the reference learns from plain one-hot
        def __init__(self) -> None:
            self.name, self.encoding = supernet.name, supernet.encoding

        def features(self, v: np.ndarray) -> np.ndarray:
            return supernet.encoding.onehot(v)

    estimator = ReferencePredictor().fit(supernet.encoding.onehot(vectors), [t.metrics[metric] for t in trials])
    return SubnetPredictor(OneHot(), metric, estimator)


def small_space_run(kind: str, seed: int, population: int, budget: int) -> dict[str, float]:
    """One search of `LookupSpace`: 'ours' (the defaults), 'ours, tuned every loop' (`linas_before`) or 'reference'
    (its predictors, a random first population of one population, pymoo NSGA-II with the default 20,000 predicted
    evaluations on the predictors instead of the exhaustive path)."""
    import tempfile
    from unittest import mock

    import neural_nas.approaches.dynas.driver as driver_module
    import neural_nas.evolution.tactics as tactics
    from neural_nas import NAS, NASConfig

    LookupSpace.measure_seconds = 0.0
    config = NASConfig(approach="dynas", search_algorithm="nsga2")
    config.dynas.supernet, config.dynas.metrics = LookupSpace.name, ["acc", "macs"]
    config.dynas.population, config.dynas.num_evals = population, budget
    config.nas.search.seed = seed
    patches = []
    if kind == "ours, tuned every loop":  # the loop before issue 14 item 2 (it had no other change in a small space)
        config.dynas.search_tactic = "linas-before"
    if kind == "reference":
        config.nas.search.search_algorithm = PYMOO_NSGA2
        config.dynas.initial_population = population
        patches = [
            mock.patch.object(tactics, "EXHAUSTIVE_LIMIT", 0),
            mock.patch.object(tactics, "MEASURED_SHARE", 0.0),
            mock.patch.object(tactics, "MIN_INNER_POPULATION", population),
            mock.patch.object(driver_module, "fit_predictor", _reference_fit_predictor),
        ]
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        config.dynas.results_csv_path = str(Path(folder) / "results.csv")
        agent = NAS(config)
        start = time.perf_counter()
        agent.search()
        wall = time.perf_counter() - start
    loops = math.ceil((budget - agent.settings.initial_population) / population)
    points = np.array([[t.metrics["accuracy_top1"], t.metrics["macs"]] for t in agent.study.trials])
    return {
        "wall": wall,
        "overhead per loop": (wall - LookupSpace.measure_seconds) / loops,
        "hypervolume": _small_space_hypervolume(points),
    }


# ---- hypervolume per measurement on the OFA MobileNetV3 surrogate: the loop before and after issue 14 ---------

PYMOO_NSGA2 = "nsga2-pymoo"


def linas_before(state: Any) -> None:
    """``linas`` as it was before issue 14 item 2: pymoo's NSGA-II as the inner search (population 50), predictors
    tuned every loop."""
    from unittest import mock

    import neural_nas.evolution.tactics as tactics
    from neural_nas.evolution import algorithm_for

    state.algorithm = algorithm_for(PYMOO_NSGA2, 2)
    fit = state.fit_predictor

    def tuned_every_loop(metric: str) -> Any:
        state._last_predictors.clear()
        return fit(metric)

    state.fit_predictor = tuned_every_loop
    with mock.patch.object(tactics, "MIN_INNER_POPULATION", 50):
        tactics.linas(state)


def register_variants() -> None:
    """The benchmark's own registrations: pymoo-only NSGA-II and the loop before issue 14 item 2."""
    from neural_nas.evolution.algorithms import AlgorithmSpec, _nsga2, algorithm_registry
    from neural_nas.evolution.tactics import tactic_registry
    from neural_nas.supernets import supernet_registry

    for registry, name, obj in (
        (algorithm_registry, PYMOO_NSGA2, AlgorithmSpec(PYMOO_NSGA2, 2, _nsga2)),
        (tactic_registry, "linas-before", linas_before),
        (supernet_registry, LookupSpace.name, LookupSpace),
    ):
        if name not in registry:
            registry.register(name, obj)


def surrogate_hypervolumes(tactic: str, seeds: int, budget: int, population: int, inner_evals: int) -> dict:
    """Hypervolume after each of ``budget`` measurements of the surrogate (median over seeds) and seconds per run."""
    import tempfile

    from _surrogate import REFERENCE_POINTS, SURROGATE, hypervolume_curve
    from sample_efficiency import run_search

    curves, seconds = [], []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(seeds):
            rows, elapsed = run_search(SURROGATE, tactic, seed, budget, population, inner_evals, Path(folder))
            curves.append(hypervolume_curve(rows, REFERENCE_POINTS[SURROGATE]))
            seconds.append(elapsed)
    return {"curve": np.median(curves, axis=0), "curves": curves, "seconds": float(np.median(seconds))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", default="250,2000", help="measurements so far (distinct shared rows), comma-separated"
    )
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--inner-evals", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each of ours and the 1-thread reference")
    parser.add_argument(
        "--reference-grid-share",
        type=int,
        default=10,
        help="above 500 rows the reference's fit is timed on every k-th point of its grids, times k (an estimate)",
    )
    parser.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the reference loop on OFA MobileNetV3 as well (--no-reference: ours only, for a quick check)",
    )
    parser.add_argument("--small-seeds", type=int, default=3, help="searches of the 59,049-network space (0: skip)")
    parser.add_argument("--small-reference-seeds", type=int, default=3, help="reference loops there (slow)")
    parser.add_argument("--small-budget", type=int, default=200)
    parser.add_argument("--hv-seeds", type=int, default=5, help="surrogate searches per loop version (0: skip)")
    parser.add_argument("--hv-budget", type=int, default=500)
    args = parser.parse_args(argv)
    from neural_nas.predictors import Predictor

    register_variants()
    out: dict[str, Any] = {"ofa": {}, "small": {}, "hv": {}}

    if args.small_seeds:
        print(
            f"59,049-network space: {args.small_budget} measurements, population {args.population}, "
            f"{args.small_seeds} seed(s) for ours, {args.small_reference_seeds} for the reference (medians)"
        )
        print("| loop | wall time | overhead per loop | hypervolume |\n|---|---|---|---|")
        small_space_run("ours", 0, args.population, 2 * args.population)  # imports and first calls, not timed
        for kind, seeds in (
            ("ours", args.small_seeds),
            ("ours, tuned every loop", args.small_seeds),
            ("reference", args.small_reference_seeds),
        ):
            if seeds == 0:
                continue
            runs = [small_space_run(kind, seed, args.population, args.small_budget) for seed in range(seeds)]
            out["small"][kind] = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
            r = out["small"][kind]
            print(f"| {kind} | {r['wall']:.2f} s | {r['overhead per loop']:.3f} s | {r['hypervolume']:.5g} |")

    kinds = ("ours", "ours, tuning reused") + (("reference", "reference, 1 BLAS thread") if args.reference else ())
    for rows in [int(r) for r in args.rows.split(",")]:
        train_x, train_y, test_x, test_y = split_rows(rows)
        share = args.reference_grid_share if rows > 500 else 1
        print(
            f"\nOFA MobileNetV3: {rows} measured rows, {len(test_x)} held out; population {args.population}, "
            f"{args.inner_evals} predicted evaluations"
            + (f"; reference fits timed on 1/{share} of its grids, x{share}" if share > 1 else "")
        )
        results: dict[str, dict] = {}
        for kind in kinds:
            repeats = 1 if kind == "reference" else args.repeats
            runs = [
                one_loop(kind, train_x, train_y, args.population, args.inner_evals, seed=r, reference_grid_share=share)
                for r in range(repeats)
            ]
            phases = {k: float(np.median([t[k] for t, _ in runs])) for k in runs[0][0]}
            results[kind] = {"times": phases, "quality": held_out_quality(runs[0][1], test_x, test_y)}
        print(
            f"{'':25s} {'fit top-1 s':>12s} {'fit MACs s':>11s} {'inner search s':>15s} {'total s':>8s} "
            f"{'top-1 tau':>10s} {'top-1 MAPE %':>13s} {'MACs tau':>9s} {'MACs MAPE %':>12s}"
        )
        for kind, r in results.items():
            t, q = r["times"], r["quality"]
            print(
                f"{kind:25s} {t['fit accuracy_top1']:12.2f} {t['fit macs']:11.3f} {t['inner search']:15.2f} "
                f"{t['total']:8.2f} {q['accuracy_top1']['kendall_tau']:10.3f} {q['accuracy_top1']['mape']:13.3f} "
                f"{q['macs']['kendall_tau']:9.3f} {q['macs']['mape']:12.3f}"
            )
        if args.reference:
            results["speedup"] = results["reference"]["times"]["total"] / results["ours"]["times"]["total"]
            print(f"ours (a loop that tunes) is {results['speedup']:.1f}x faster than the reference loop")
        # Tunings are `retune_growth` apart in rows: around this many rows, one loop in this many tunes.
        cycle = max(1, round((Predictor().retune_growth - 1) * rows / args.population))
        tune, reuse = results["ours"]["times"]["total"], results["ours, tuning reused"]["times"]["total"]
        results["mean per loop"] = reuse + (tune - reuse) / cycle
        print(
            f"one loop in {cycle} tunes at this size: ours takes {results['mean per loop']:.2f} s per loop on average"
        )
        out["ofa"][rows] = results

    if args.hv_seeds:
        from _surrogate import install_surrogate

        install_surrogate()
        print(
            f"\nOFA MobileNetV3 surrogate: hypervolume (top-1 %, MMACs; reference point 70, 600) after k measurements, "
            f"median of {args.hv_seeds} seeds, population {args.population}, {args.inner_evals} predicted evaluations"
        )
        checkpoints = sorted({50, 100, 200, args.hv_budget} & set(range(1, args.hv_budget + 1)))
        print("| loop | " + " | ".join(f"HV@{c}" for c in checkpoints) + f" | mean HV@{args.hv_budget} | s per run |")
        print("|---" * (len(checkpoints) + 3) + "|")
        for tactic in ("linas", "linas-before"):
            hv = surrogate_hypervolumes(tactic, args.hv_seeds, args.hv_budget, args.population, args.inner_evals)
            out["hv"][tactic] = hv
            cells = " | ".join(f"{hv['curve'][c - 1]:.1f}" for c in checkpoints)
            mean = np.mean([curve[-1] for curve in hv["curves"]])
            print(f"| {tactic} | {cells} | {mean:.1f} | {hv['seconds']:.1f} |")
    return out


if __name__ == "__main__":
    main()
