"""How much of the embedded super-network's measured top-1 is the sub-network, and how much the test draw.

``ofa_mbv3_digits`` measures top-1 on a fixed, seeded draw of distortions of its 540 held-out digits (each digit
``TEST_DRAWS`` times). This script measures the same random sub-networks on that draw and on other draws (other
distortion seeds) and prints how well the draws agree across sub-networks (Pearson r, Kendall tau). Where they agree
poorly, most of the spread of the measured accuracies is the luck of the draw: no predictor can rank the sub-networks
much better than one draw ranks another, and a search that measures more sub-networks collects more lucky ones.

Draws differ in their distortions, not in their digits (there are only 540 held-out digits). A stricter check splits
the digits themselves into two disjoint halves and correlates the top-1 on one half with the top-1 on the other, within
each draw: that agreement also includes which digits happen to be held out, on half as many test images.

    .venv/bin/python benchmarks/measurement_noise.py [--subnets 80] [--draws 3]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def correct_per_image(supernet, subnet: dict) -> np.ndarray:
    """Whether each test image is classified right, measured as `measure` does (checked against it by the caller)."""
    import torch

    from neural_nas.measurements.accuracy import recalibrate_bn

    calib, x_test, y_test = supernet.data()
    module = supernet.active_subnet(subnet).to(memory_format=torch.channels_last)
    recalibrate_bn(module, calib.split(supernet.eval_batch_size))
    with torch.no_grad():
        predicted = torch.cat([module(x).argmax(1) for x in x_test.split(supernet.test_batch_size)])
    return (predicted == y_test).numpy()


def measure_draws(n_subnets: int, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 (%) of ``n_subnets`` random sub-networks (rows) on each test draw (columns), and per half of the digits
    (rows, draws, 2)."""
    import torch

    from neural_nas.supernets import create_supernet

    columns, halves = [], []
    threads = torch.get_num_threads()
    for seed in seeds:
        supernet = create_supernet("ofa_mbv3_digits")
        supernet.test_seed = seed
        supernet.load(pretrained=True)
        vectors = supernet.encoding.random_vectors(n_subnets, 0)
        n_digits = len(supernet.data()[2]) // supernet.test_draws
        first_half = (np.arange(len(supernet.data()[2])) % n_digits) < n_digits // 2
        start = time.perf_counter()
        accuracy, by_half = [], []
        torch.set_num_threads(supernet.measure_threads or threads)
        try:
            for i, vector in enumerate(vectors):
                subnet = supernet.encoding.vector_to_dict(vector)
                correct = correct_per_image(supernet, subnet)
                accuracy.append(100.0 * correct.mean())
                by_half.append([100.0 * correct[first_half].mean(), 100.0 * correct[~first_half].mean()])
                if i == 0:  # the same value as the library's own measurement
                    measured = supernet.measure(subnet, ["accuracy_top1"])["accuracy_top1"]
                    assert abs(measured - accuracy[0]) < 1e-9, (measured, accuracy[0])
        finally:
            torch.set_num_threads(threads)
        columns.append(accuracy)
        halves.append(by_half)
        print(
            f"  test draw {seed}: mean {np.mean(accuracy):.2f} %, std {np.std(accuracy):.2f} points, "
            f"range {np.min(accuracy):.2f}-{np.max(accuracy):.2f} ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    return np.array(columns).T, np.array(halves).transpose(1, 0, 2)


def main(argv: list[str] | None = None) -> dict:
    from scipy.stats import kendalltau, pearsonr

    from neural_nas.supernets.ofa_digits import TEST_DRAWS, TEST_SEED

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=80)
    parser.add_argument("--draws", type=int, default=3, help="test draws: the shipped one and draws-1 others")
    args = parser.parse_args(argv)
    seeds = [TEST_SEED] + [1000 + i for i in range(args.draws - 1)]
    print(
        f"ofa_mbv3_digits: {args.subnets} random sub-networks, test draws (distortion seeds) {seeds}, "
        f"each {TEST_DRAWS} distortions of the 540 held-out digits"
    )
    acc, halves = measure_draws(args.subnets, seeds)
    pairs = list(itertools.combinations(range(len(seeds)), 2))
    r = [pearsonr(acc[:, i], acc[:, j])[0] for i, j in pairs]
    tau = [kendalltau(acc[:, i], acc[:, j])[0] for i, j in pairs]
    r_halves = [pearsonr(halves[:, d, 0], halves[:, d, 1])[0] for d in range(len(seeds))]
    print(
        f"between draws, across sub-networks: Pearson r {np.mean(r):.2f} (pairs {', '.join(f'{v:.2f}' for v in r)}), "
        f"Kendall tau {np.mean(tau):.2f}"
    )
    print(
        f"share of the variance of measured top-1 due to the sub-network (mean r): {np.mean(r):.0%}; "
        f"the rest is the test draw"
    )
    print(
        f"stricter, between disjoint halves of the held-out digits (half the test images each), within a draw: "
        f"Pearson r {np.mean(r_halves):.2f} (draws {', '.join(f'{v:.2f}' for v in r_halves)})"
    )
    return {"pearson": r, "kendall": tau, "pearson_halves": r_halves, "accuracy": acc}


if __name__ == "__main__":
    main()
