"""Racing of validation (``nas.dynas.racing``): validation samples saved, and what it costs the front.

For each seed, the same search twice, same seed and budget: unraced, then raced. Real per-sample outcomes, no
simulation: the embedded super-network (``ofa_mbv3_digits``: 2,160 test images, top-1 vs MACs). Reported per seed:

- validation samples evaluated: unraced, every measurement x the test set; raced, the whole rows x the test set plus
  each stopped sub-network's share (from ``<csv>.racing.jsonl``);
- hypervolume of each run's final measured front (the CSV's rows), with one reference point per seed (both runs'
  points, `default_ref_point`), and its ratio raced / unraced;
- wrongly stopped: every stopped sub-network is measured again on the whole set afterwards; one that the raced run's
  final front does not dominate was a front member stopped by mistake.

The last lines, one per super-network: ``racing: samples <ratio>x fewer, HV ratio <r>`` (medians over seeds).
``--confidence``, ``--stages`` and ``--learn-from-stopped`` vary the racing (defaults: the library's).

    python benchmarks/racing.py [--seeds 5] [--num-evals 200] [--population 50] [--confidence 0.99]
        [--stages 0.125,0.25,0.5,1] [--learn-from-stopped yes|no]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUPERNET = "ofa_mbv3_digits"
METRICS = ("accuracy_top1", "macs")
HIGHER = (True, False)


def search(seed: int, racing: bool, args: argparse.Namespace, workdir: Path) -> tuple[Path, float]:
    """One search into its own CSV; returns (the CSV, wall seconds)."""
    from neural_nas import NAS, NASConfig

    config = NASConfig(approach="dynas", search_algorithm="nsga2")
    config.nas.search.seed = seed
    d = config.dynas
    d.supernet, d.metrics, d.population, d.num_evals = SUPERNET, list(METRICS), args.population, args.num_evals
    d.racing, d.search_tactic = racing, args.tactic
    d.results_csv_path = str(workdir / f"s{seed}_{'raced' if racing else 'unraced'}.csv")
    start = time.perf_counter()
    NAS(config).search()
    return Path(d.results_csv_path), time.perf_counter() - start


def measured(csv: Path) -> tuple[list[dict], np.ndarray]:
    """The CSV's sub-networks and their (top-1, MACs) points."""
    from neural_nas.results.dynast_csv import ResultsCsv
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(SUPERNET)
    rows = ResultsCsv(csv).read(supernet.parse_record)
    return [r.subnet for r in rows], np.array([[r.metrics[m] for m in METRICS] for r in rows])


def stopped_records(csv: Path) -> list[dict]:
    from neural_nas.results.csv_store import racing_path

    path = racing_path(csv)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    from neural_nas.pareto import HypervolumeTracker

    tracker = HypervolumeTracker(HIGHER, ref_point=ref)
    for p in points:
        tracker.add(p)
    return tracker.hypervolume()


def wrongly_stopped(records: list[dict], front_points: np.ndarray) -> int:
    """Stopped sub-networks that, measured on the whole test set, the raced run's final front does not dominate."""
    from neural_nas.pareto import dominates, minimised
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(SUPERNET)
    supernet.load(pretrained=True, device="cpu")
    front = minimised(front_points, HIGHER)
    wrong = 0
    for record in records:
        values = supernet.measure(supernet.parse_record(record["arch"]), list(METRICS))
        point = minimised([[values[m] for m in METRICS]], HIGHER)
        wrong += not dominates(front, point).any()
    return wrong


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--num-evals", type=int, default=200)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--tactic", default="linas", help="nas.dynas.search_tactic (linas, evolutionary, random)")
    parser.add_argument("--confidence", type=float, default=None, help="per check (default: the library's)")
    parser.add_argument("--stages", default=None, help="shares, e.g. 0.125,0.25,0.5,1 (default: the library's)")
    parser.add_argument(
        "--learn-from-stopped",
        choices=("yes", "no"),
        default=None,
        help="whether the predictors fit stopped estimates (default: the library's)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from neural_nas.approaches.dynas import driver
    from neural_nas.measurements import racing
    from neural_nas.pareto import default_ref_point, pareto_front

    if args.confidence is not None:
        racing.CONFIDENCE = args.confidence
    if args.stages is not None:
        racing.STAGES = tuple(float(s) for s in args.stages.split(","))
    if args.learn_from_stopped is not None:
        driver.PREDICTORS_LEARN_FROM_STOPPED = args.learn_from_stopped == "yes"
    print(
        f"{SUPERNET}, {args.tactic}: {args.num_evals} measurements, population {args.population}, "
        f"stages {racing.STAGES}, confidence {racing.CONFIDENCE}, "
        f"predictors learn from stopped: {driver.PREDICTORS_LEARN_FROM_STOPPED}"
    )
    print("seed  samples unraced  samples raced  ratio  stopped  HV unraced  HV raced  HV ratio  wrong  wall u/r (s)")
    ratios, hv_ratios, out = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            unraced_csv, wall_u = search(seed, False, args, Path(tmp))
            raced_csv, wall_r = search(seed, True, args, Path(tmp))
            _, unraced = measured(unraced_csv)
            _, raced = measured(raced_csv)
            records = stopped_records(raced_csv)
            n = records[0]["of"] if records else 0
            n = n or _test_size()
            samples_u = len(unraced) * n
            samples_r = len(raced) * n + sum(r["samples"] for r in records)
            ref = default_ref_point(np.concatenate([unraced, raced]), HIGHER)
            hv_u, hv_r = hypervolume(unraced, ref), hypervolume(raced, ref)
            wrong = wrongly_stopped(records, raced[pareto_front(raced, HIGHER)])
            ratio, hv_ratio = samples_u / samples_r, hv_r / hv_u
            ratios.append(ratio)
            hv_ratios.append(hv_ratio)
            out.append(dict(seed=seed, ratio=ratio, hv_ratio=hv_ratio, stopped=len(records), wrong=wrong))
            print(
                f"{seed:>4}  {samples_u:>15,}  {samples_r:>13,}  {ratio:>4.2f}x  {len(records):>7}  {hv_u:>10.4g}  "
                f"{hv_r:>8.4g}  {hv_ratio:>8.4f}  {wrong:>5}  {wall_u:>5.1f}/{wall_r:.1f}"
            )
    print(f"racing: samples {np.median(ratios):.2f}x fewer, HV ratio {np.median(hv_ratios):.4f}")
    return {"runs": out, "ratio": float(np.median(ratios)), "hv_ratio": float(np.median(hv_ratios))}


def _test_size() -> int:
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(SUPERNET)
    return len(supernet.data()[2])


if __name__ == "__main__":
    main()
