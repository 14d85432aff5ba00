"""End to end on the reference's own setup, with the per-phase split and peak memory.

The reference (Intel Neural Compressor's DyNAS, offline on a 2-core machine): random-initialised
`ofa_mbv3_d234_e346_k357_w1.2`, a generated ImageFolder of 10 classes (10 train and 5 val 256x256 JPEGs each), metrics
acc + MACs, population 10, num_evals 20, eval_batch_size 16, num_workers 0, batch_size 1, seed 42. Its figures (from the
Dynamic NAS issue) are printed beside ours; they were measured on the same kind of machine, not in this run.

    python benchmarks/reference_setup.py [--num-evals 20] [--population 10]
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/image_data.py generates the images

REFERENCE = {
    "total_s": "150-178",
    "peak_gb": "5.1-5.4",
    "per_subnet_s": "6.2-7.5",
    "recalibration_s": "~5.3",
    "validation_s": "0.6-0.7",
    "macs_s": "0.2",
    "predictor_fit_s": "~2.8",
    "inner_search_s": "8-9",
}


def timed(phases: dict, name: str, obj: object, method: str) -> None:
    """Wrap ``obj.method`` so its calls add to ``phases[name]`` (instrumentation stays out of the library)."""
    original = getattr(obj, method)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[name] += time.perf_counter() - start
            phases[name + " (calls)"] += 1

    setattr(obj, method, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-evals", type=int, default=20)
    parser.add_argument("--population", type=int, default=10)
    args = parser.parse_args()

    import pymoo.optimize

    from neural_nas import NAS, NASConfig
    from neural_nas.approaches.dynas import driver as driver_module
    from neural_nas.measurements import accuracy
    from neural_nas.supernets import _ofa
    from tests.image_data import make_image_folder

    phases: dict = defaultdict(float)
    timed(phases, "accuracy (recalibration + validation)", accuracy.AccuracyEvaluator, "evaluate")
    evaluate = accuracy.AccuracyEvaluator.evaluate

    def evaluate_and_split(self, model):
        result = evaluate(self, model)
        for key in ("recalibrate_s", "validate_s"):
            split[key] += self.last_timings[key]
        return result

    split: dict = defaultdict(float)
    accuracy.AccuracyEvaluator.evaluate = evaluate_and_split
    timed(phases, "data preparation", accuracy.AccuracyEvaluator, "prepare")
    timed(phases, "sub-network extraction", _ofa.OFASuperNetwork, "active_subnet")
    timed(phases, "MACs/params (tables)", _ofa.OFASuperNetwork, "exact_metrics")
    timed(phases, "super-network build + load", _ofa.OFASuperNetwork, "load")
    timed(phases, "predictor fits", driver_module.Driver, "fit_predictor")
    timed(phases, "inner evolutionary search", pymoo.optimize, "minimize")

    with tempfile.TemporaryDirectory() as tmp:
        data = make_image_folder(Path(tmp) / "data", n_classes=10, n_train=10, n_val=5, size=256, seed=0)
        config = NASConfig(approach="dynas", search_algorithm="nsga2")
        for key, value in {
            "supernet": "ofa_mbv3_d234_e346_k357_w1.2",
            "metrics": ["acc", "macs"],
            "population": args.population,
            "num_evals": args.num_evals,
            "eval_batch_size": 16,
            "num_workers": 0,
            "batch_size": 1,
            "dataset_path": str(data),
            "pretrained": False,
            "results_csv_path": str(Path(tmp) / "results.csv"),
        }.items():
            setattr(config.dynas, key, value)
        config.nas.search.seed = 42
        start = time.perf_counter()
        NAS(config).search()
        total = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    n = args.num_evals
    print(f"\nneural_nas on the reference setup: {n} sub-networks measured, population {args.population}")
    print(f"{'':32} {'neural_nas':>12} {'reference':>12}")
    print(f"{'end to end (s)':32} {total:12.1f} {REFERENCE['total_s']:>12}")
    print(f"{'peak memory (GB, max RSS)':32} {peak_gb:12.2f} {REFERENCE['peak_gb']:>12}")
    per = {"MACs/params (tables)": "macs_s"}
    for name, value in sorted(((k, v) for k, v in phases.items() if not k.endswith("(calls)")), key=lambda kv: -kv[1]):
        calls = int(phases[name + " (calls)"])
        ref = REFERENCE.get(per.get(name, ""), "")
        each = value / calls if calls else 0.0
        print(f"{name:32} {value:8.2f} s in {calls:3d} calls ({each:.3f} s each)  reference each: {ref or '-'}")
    for name, key in (("  of which recalibration", "recalibrate_s"), ("  of which validation", "validate_s")):
        ref = REFERENCE["recalibration_s" if key == "recalibrate_s" else "validation_s"]
        print(f"{name:32} {split.get(key, 0):8.2f} s ({split.get(key, 0) / n:.3f} s each)  reference each: {ref}")
    print(f"speed-up vs the reference's 150-178 s: {150 / total:.1f}x-{178 / total:.1f}x")


if __name__ == "__main__":
    main()
