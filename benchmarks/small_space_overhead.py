"""The Dynamic NAS loop's own cost in a small search space, where a measurement costs nothing.

A user's super-network of 5 genes of 9 choices (59,049 sub-networks) whose `measure` is a table lookup (a function
here): top-1 is predicted by the loop, MACs are exact. Each run measures 200 sub-networks, population 50, NSGA-II:

- ``linas``: the default, which searches a space this small exactly on the predictors (every unmeasured sub-network
  predicted, the predicted front measured: `evolution.tactics.EXHAUSTIVE_LIMIT`);
- ``linas, evolutionary inner search``: the same with that limit at 0, i.e. NSGA-II on the predictors with 20,000
  predicted evaluations per loop, as before;
- ``random``: the floor of the loop's cost.

Per-loop overhead = (wall time - time inside `measure`) / loops after the first population. Hypervolume of the
measured front after 200 (reference point: top-1 50 %, MACs at the space's largest), median over the seeds.

    .venv/bin/python benchmarks/small_space_overhead.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neural_nas import NAS, NASConfig  # noqa: E402
from neural_nas.supernets import Encoding, SuperNetwork, supernet_registry  # noqa: E402

WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


class LookupSpace(SuperNetwork):
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


def hypervolume(points: np.ndarray) -> float:
    from pymoo.indicators.hv import HV

    f = np.column_stack([-points[:, 0], points[:, 1]])  # minimised: -top-1, MACs
    return float(HV(ref_point=np.array([-50.0, 1e6 + 1e4 * 81 * WEIGHTS.sum()]))(f))


def run(tactic: str, exhaustive: bool, seed: int) -> tuple[float, float, float]:
    import neural_nas.evolution.tactics as tactics

    limit = tactics.EXHAUSTIVE_LIMIT
    tactics.EXHAUSTIVE_LIMIT = limit if exhaustive else 0
    LookupSpace.measure_seconds = 0.0
    config = NASConfig(approach="dynas", search_algorithm="nsga2")
    config.dynas.supernet, config.dynas.metrics = LookupSpace.name, ["acc", "macs"]
    config.dynas.population, config.dynas.num_evals, config.dynas.search_tactic = 50, 200, tactic
    config.nas.search.seed = seed
    with tempfile.TemporaryDirectory() as folder:
        config.dynas.results_csv_path = str(Path(folder) / "results.csv")
        agent = NAS(config)
        start = time.perf_counter()
        agent.search()
        wall = time.perf_counter() - start
    tactics.EXHAUSTIVE_LIMIT = limit
    loops = (200 - agent.settings.initial_population) / 50
    points = np.array([[t.metrics["accuracy_top1"], t.metrics["macs"]] for t in agent.study.trials])
    return wall, (wall - LookupSpace.measure_seconds) / loops, hypervolume(points)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    supernet_registry.register(LookupSpace.name, LookupSpace)
    rows = {
        "linas (exhaustive on the predictors)": ("linas", True),
        "linas, evolutionary inner search": ("linas", False),
        "random": ("random", True),
    }
    out = {}
    print("| run | wall time | overhead per loop | hypervolume at 200 |\n|---|---|---|---|")
    for label, (tactic, exhaustive) in rows.items():
        results = np.array([run(tactic, exhaustive, seed) for seed in range(args.seeds)])
        wall, overhead, hv = np.median(results, axis=0)
        out[label] = {"wall": wall, "overhead": overhead, "hypervolume": hv}
        print(f"| {label} | {wall:.2f} s | {overhead:.2f} s | {hv:.4g} |")
    return out


if __name__ == "__main__":
    main()
