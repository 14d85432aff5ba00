"""Shared helpers of the search benchmarks: the shared DyNAS-T rows, an OFA MobileNetV3 surrogate, hypervolume.

The surrogate super-network ``ofa_mbv3_w1.0_surrogate`` has the genes of ``ofa_mbv3_d234_e346_k357_w1.0``, its exact
MAC/param lookup tables, and a top-1 accuracy from a model fitted on ALL distinct rows of the five shared CSVs
(``shared/data/dynast_ofa_mbv3_w1.0``; re-measured duplicates averaged): an MLP regressor (one hidden layer of 64,
L2 1e-2, seeded) on the active-block features, plus a fixed per-sub-network pseudo-noise of std 0.03 points (seeded by
the genes; the shared files' re-measurement noise). An MLP rather than the library's Ridge/SVR `Predictor`: the
in-loop predictors must learn a function that is not of their own form (the `Predictor` fits the rows best, 5-fold
tau 0.970 vs 0.948 for the MLP, which would flatter the predictor-in-the-loop search). `surrogate_cv_quality` gives
its own 5-fold fit quality.

The same pieces serve the other super-networks' benchmarks (``bert_sst2.py``, ``transformer_lt.py``): `MLPSurrogate`
(any features, any metric), `reference_rows` / `dedup` of a reference results file, `compare_predictors` and
`compare_tactics` (the predictor and sample-efficiency tables).
"""

from __future__ import annotations

import ast
import csv
import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from neural_nas.supernets import supernet_registry
from neural_nas.supernets.ofa_mbv3 import MBCONV_ENCODING, OFAMobileNetV3W10

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "dynast_ofa_mbv3_w1.0"  # a copy of shared/data (Apache-2.0)
SURROGATE = "ofa_mbv3_w1.0_surrogate"
NOISE_STD = 0.03

# Fixed hypervolume reference points (accuracy in %, MACs in millions); see `hypervolume_2d`.
# Surrogate: below the shared rows' lowest top-1 (71.0 %), beyond the space's largest MACs (566 M). The embedded
# digits net: below its smallest sub-network's top-1, beyond its largest MACs (1.18 M). Other super-networks:
# `--reference`, or the worst values over all runs of the benchmark (printed).
REFERENCE_POINTS = {SURROGATE: (70.0, 600.0), "ofa_mbv3_digits": (75.0, 1.25)}


def load_rows(data: Path = DATA, metric: str = "Top-1 Acc (%)") -> tuple[np.ndarray, np.ndarray]:
    """Every row of the shared CSVs, in file order then row order: (index vectors, metric values)."""
    vectors, values = [], []
    for path in sorted(data.glob("*.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                vectors.append(MBCONV_ENCODING.dict_to_vector(ast.literal_eval(row["Sub-network"])))
                values.append(float(row[metric]))
    return np.array(vectors, dtype=np.int64), np.array(values)


def dedup(vectors: np.ndarray, values: np.ndarray, key: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One row per distinct sub-network, re-measurements averaged. ``key(vectors)``: what makes two rows the same
    sub-network (default: the genes; a super-network's ``features`` ignore the genes of layers that do not run)."""
    _, first, inverse = np.unique(
        vectors if key is None else key(vectors), axis=0, return_index=True, return_inverse=True
    )
    inverse = inverse.ravel()
    return vectors[first], np.bincount(inverse, values) / np.bincount(inverse)


def reference_rows(supernet: Any, path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(index vectors, ``column`` values) of a reference results file's rows, in file order."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    vectors = [supernet.encoding.dict_to_vector(ast.literal_eval(r["Sub-network"])) for r in rows]
    return np.array(vectors, dtype=np.int64), np.array([float(r[column]) for r in rows])


def features(vectors: np.ndarray) -> np.ndarray:
    from neural_nas.predictors import active_block_features

    return active_block_features(MBCONV_ENCODING, np.atleast_2d(vectors))


def fixed_noise(keys: np.ndarray, std: float) -> np.ndarray:
    """One offset per row of ``keys``, seeded by the row's bytes: the same sub-network always gets the same one."""
    out = []
    for row in keys:
        seed = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
        out.append(np.random.default_rng(seed).normal(0.0, std))
    return np.array(out)


class MLPSurrogate:
    """A metric of any sub-network: a seeded MLP on ``features(vectors)`` plus `fixed_noise` keyed on
    ``noise_key(vectors)`` (default: the features as bytes). Fitted and evaluated on one BLAS thread."""

    def __init__(
        self,
        features: Callable[[np.ndarray], np.ndarray],
        seed: int = 0,
        noise_std: float = NOISE_STD,
        max_iter: int = 2000,
        noise_key: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.features, self.seed, self.noise_std, self.max_iter = features, seed, noise_std, max_iter
        self.noise_key = noise_key or (lambda vectors: self.features(vectors).astype(np.uint8))

    def fit(self, vectors: np.ndarray, values: np.ndarray) -> MLPSurrogate:
        from sklearn.neural_network import MLPRegressor
        from threadpoolctl import threadpool_limits

        self.mean_, self.scale_ = float(values.mean()), float(values.std())
        self.model_ = MLPRegressor(hidden_layer_sizes=(64,), alpha=1e-2, max_iter=self.max_iter, random_state=self.seed)
        with threadpool_limits(1):
            self.model_.fit(self.features(vectors), (values - self.mean_) / self.scale_)
        return self

    def noise(self, vectors: np.ndarray) -> np.ndarray:
        """Deterministic: the same sub-network always gets the same offset."""
        return fixed_noise(self.noise_key(vectors), self.noise_std)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            smooth = self.model_.predict(self.features(vectors)) * self.scale_ + self.mean_
        return smooth + (self.noise(vectors) if self.noise_std > 0 else 0.0)


class SurrogateAccuracy(MLPSurrogate):
    """Top-1 of any sub-network: a seeded MLP on active-block features plus a fixed per-sub-network noise."""

    def __init__(self, seed: int = 0, noise_std: float = NOISE_STD, max_iter: int = 2000) -> None:
        super().__init__(features, seed, noise_std, max_iter, lambda vectors: np.atleast_2d(vectors).astype(np.int64))


def surrogate_cv_quality(vectors: np.ndarray, top1: np.ndarray, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """k-fold Kendall tau and RMSE (points of top-1) of the surrogate's smooth part on the distinct shared rows."""
    from sklearn.model_selection import KFold

    from neural_nas.predictors import quality

    taus, rmses = [], []
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(vectors):
        model = SurrogateAccuracy(seed, noise_std=0.0).fit(vectors[train], top1[train])
        predicted = model.predict(vectors[test])
        taus.append(quality(top1[test], predicted)["kendall_tau"])
        rmses.append(float(np.sqrt(np.mean((predicted - top1[test]) ** 2))))
    return {"kendall_tau": float(np.mean(taus)), "rmse": float(np.mean(rmses)), "folds": folds}


class SurrogateMeasured:
    """Mixin for a real super-network class: its genes and exact metrics, and ``surrogate_metric`` predicted by the
    fitted ``surrogate`` (a class attribute, set before searching) instead of measured. No torch model is involved."""

    measures_itself = True  # measure() below gives every metric
    surrogate_metric: ClassVar[str]
    surrogate: ClassVar[Any] = None

    def load(self, **kwargs: Any) -> None:
        """Nothing to load: the weights are neither needed nor available offline."""

    def measure(self, subnet: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, float]:
        if type(self).surrogate is None:
            raise RuntimeError(f"fit {type(self).__name__}.surrogate before searching the surrogate super-network")
        vector = self.encoding.dict_to_vector(subnet)[None, :]  # type: ignore[attr-defined]
        exact = {name: float(values[0]) for name, values in self.exact_metrics(vector).items()}  # type: ignore[attr-defined]
        return {self.surrogate_metric: float(type(self).surrogate.predict(vector)[0]), **exact}


@supernet_registry(SURROGATE)
class SurrogateMobileNetV3(SurrogateMeasured, OFAMobileNetV3W10):
    """``ofa_mbv3_d234_e346_k357_w1.0``'s genes and exact MACs/params; top-1 from `SurrogateAccuracy`
    (`install_surrogate` sets it)."""

    name = SURROGATE
    metrics = ("accuracy_top1", "macs", "params")
    surrogate_metric = "accuracy_top1"


def install_surrogate(seed: int = 0, max_iter: int = 2000) -> tuple[SurrogateAccuracy, int]:
    """Fit the surrogate on all distinct shared rows and plug it in; returns it and the number of rows."""
    vectors, top1 = dedup(*load_rows())
    SurrogateMobileNetV3.surrogate = SurrogateAccuracy(seed, max_iter=max_iter).fit(vectors, top1)
    return SurrogateMobileNetV3.surrogate, len(top1)


def hypervolume_2d(points: np.ndarray, reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (rows of (maximised, minimised)) up to ``reference`` (worst value of each).

    Points no better than the reference in both objectives add nothing.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    ref_max, ref_min = reference
    keep = (points[:, 0] > ref_max) & (points[:, 1] < ref_min)
    points = points[keep]
    if len(points) == 0:
        return 0.0
    order = np.lexsort((-points[:, 0], points[:, 1]))  # cost ascending, then value descending
    area, best = 0.0, ref_max
    costs, values = points[order, 1], points[order, 0]
    for i, (cost, value) in enumerate(zip(costs, values)):
        if value > best:  # on the front: a strip from this cost to the next front point's cost
            best = value
        next_cost = costs[i + 1] if i + 1 < len(costs) else ref_min
        area += (best - ref_max) * (next_cost - cost)
    return float(area)


def hypervolume_curve(points: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """``curve[k - 1]``: hypervolume of the first ``k`` points (measurement order), for k = 1..len(points).

    Keeps the running front only, so the whole curve costs about one pass.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    curve = np.zeros(len(points))
    front = np.empty((0, 2))
    for k, p in enumerate(points):
        dominated = ((front[:, 0] >= p[0]) & (front[:, 1] <= p[1])).any()
        if not dominated:
            keep = ~((p[0] >= front[:, 0]) & (p[1] <= front[:, 1]))
            front = np.vstack([front[keep], p])
            curve[k] = hypervolume_2d(front, reference)
        else:
            curve[k] = curve[k - 1]
    return curve


def needed(curve: np.ndarray, target: float) -> float:
    """Measurements until the curve first reaches ``target`` (inf if never)."""
    hit = np.nonzero(curve >= target - 1e-9)[0]
    return float(hit[0] + 1) if len(hit) else float("inf")


def fmt_needed(values: list[float], budget: int) -> str:
    """``needed`` over seeds as a table cell: the median (``>budget`` when the median seed never reaches the target),
    then the range over the seeds that reach it and how many do not."""
    med = float(np.median(values))
    finite = [v for v in values if np.isfinite(v)]
    spread = f"{int(min(finite))}-{int(max(finite))}" if finite else "-"
    missed = len(values) - len(finite)
    text = f">{budget}" if not np.isfinite(med) else f"{med:g}"
    return f"{text} [{spread}{f', {missed} missed' if missed else ''}]"


def compare_predictors(supernet: Any, vectors: np.ndarray, values: np.ndarray, n_train: Sequence[int]) -> None:
    """Print Kendall tau and MAPE on the held-out distinct rows, training on the first N rows (the file's order):
    `Predictor` on the super-network's features, on the plain one-hot (ablation), `ReferencePredictor` (baseline)."""
    import time

    from neural_nas.predictors import Predictor, ReferencePredictor, quality

    key = supernet.features
    contenders = [
        ("Predictor, active-layer features", lambda: Predictor(seed=0), supernet.features),
        ("Predictor, plain one-hot (ablation)", lambda: Predictor(seed=0), supernet.encoding.onehot),
        ("ReferencePredictor, active-layer (baseline)", ReferencePredictor, supernet.features),
    ]
    print(f"{len(values)} rows, {len(dedup(vectors, values, key)[1])} distinct sub-networks")
    print(f"{'predictor':44s} {'N':>5s} {'fit s':>6s} {'held out':>8s} {'tau':>6s} {'MAPE %':>7s}")
    for n in n_train:
        train_x, train_y = dedup(vectors[:n], values[:n], key)
        seen = {row.tobytes() for row in key(train_x)}
        rest = np.array([row.tobytes() not in seen for row in key(vectors)])
        test_x, test_y = dedup(vectors[rest], values[rest], key)
        for name, make, features_of in contenders:
            estimator = make()
            start = time.perf_counter()
            estimator.fit(features_of(train_x), train_y)
            fit_s = time.perf_counter() - start
            q = quality(test_y, estimator.predict(features_of(test_x)))
            print(f"{name:44s} {n:5d} {fit_s:6.2f} {len(test_y):8d} {q['kendall_tau']:6.3f} {q['mape']:7.3f}")


def compare_tactics(
    supernet: str,
    objective: str,
    reference: Sequence[float],
    *,
    tactics: Sequence[str],
    seeds: int,
    ns: Sequence[int],
    population: int,
    inner_evals: int,
) -> None:
    """Search ``supernet`` (objective (max) vs GMACs (min)) with each tactic and seed for 4 max(N) measurements; print
    the median hypervolume from ``reference`` after k measurements, and the measurements each tactic needs to reach
    random search's median hypervolume at 4N (as ``sample_efficiency.py``)."""
    import tempfile
    import time

    from neural_nas import NAS, NASConfig

    budget = 4 * max(ns)
    curves: dict[str, list[np.ndarray]] = {t: [] for t in tactics}
    times: dict[str, list[float]] = {t: [] for t in tactics}
    with tempfile.TemporaryDirectory() as tmp:
        for tactic in tactics:
            for seed in range(seeds):
                config = NASConfig(approach="dynas", search_algorithm="nsga2")
                config.nas.search.seed = seed
                d = config.dynas
                d.supernet, d.metrics, d.population, d.num_evals = supernet, [objective, "macs"], population, budget
                d.search_tactic, d.inner_evals = tactic, inner_evals
                d.results_csv_path = str(Path(tmp) / f"{tactic}_s{seed}_n{budget}.csv")
                start = time.perf_counter()
                agent = NAS(config)
                agent.search()
                times[tactic].append(time.perf_counter() - start)
                points = np.array([(m[objective], m["macs"] / 1e9) for m in agent.search_results.values()])
                curves[tactic].append(hypervolume_curve(points, reference))
                print(f"  {tactic:12s} seed {seed}: {len(points)} measured in {times[tactic][-1]:.1f} s", flush=True)
    print(
        f"\n{supernet}: {objective} vs GMACs, population {population}, inner_evals {inner_evals}, {seeds} seeds; "
        f"HV reference point {tuple(reference)}"
    )
    checkpoints = sorted({50, 100, 200, budget, *ns} & set(range(1, budget + 1)))
    print(f"{'tactic':12s} " + " ".join(f"{f'HV@{c}':>10s}" for c in checkpoints) + f" {'s/run':>7s}")
    for t in tactics:
        cells = [f"{np.median([cv[c - 1] for cv in curves[t]]):.4f}" for c in checkpoints]
        print(f"{t:12s} " + " ".join(f"{c:>10s}" for c in cells) + f" {np.median(times[t]):7.1f}")
    if "random" in curves:
        print("\nmeasurements needed to reach random search's median HV at 4N (median [range] over seeds):")
        print(f"{'N':>5s} {'target HV':>10s} " + " ".join(f"{t:>22s}" for t in tactics))
        for n in ns:
            target = float(np.median([cv[4 * n - 1] for cv in curves["random"]]))
            need = {t: [needed(cv, target) for cv in curves[t]] for t in tactics}
            print(f"{n:5d} {target:10.4f} " + " ".join(f"{fmt_needed(need[t], budget):>22s}" for t in tactics))
