"""How much of the embedded super-network's measured top-1 is the sub-network, and how much the test draw.

``ofa_mbv3_digits`` measures top-1 on one fixed, seeded distortion of its 540 held-out digits. This script measures the
same random sub-networks on that draw and on other draws of the same digits (other distortion seeds) and prints how
well the draws agree across sub-networks (Pearson r, Kendall tau). Where they agree poorly, most of the spread of the
measured accuracies is the luck of the draw: no predictor can rank the sub-networks much better than one draw ranks
another, and a search that measures more sub-networks collects more lucky ones.

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


def measure_draws(n_subnets: int, seeds: list[int]) -> np.ndarray:
    """Top-1 (%) of ``n_subnets`` random sub-networks (rows) on each test draw (columns)."""
    from neural_nas.supernets import create_supernet

    columns = []
    for seed in seeds:
        supernet = create_supernet("ofa_mbv3_digits")
        supernet.test_seed = seed
        supernet.load(pretrained=True)
        vectors = supernet.encoding.random_vectors(n_subnets, 0)
        start = time.perf_counter()
        columns.append(
            [supernet.measure(supernet.encoding.vector_to_dict(v), ["accuracy_top1"])["accuracy_top1"] for v in vectors]
        )
        print(
            f"  test draw {seed}: mean {np.mean(columns[-1]):.2f} %, std {np.std(columns[-1]):.2f} points "
            f"({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    return np.array(columns).T


def main(argv: list[str] | None = None) -> dict:
    from scipy.stats import kendalltau, pearsonr

    from neural_nas.supernets.ofa_digits import TEST_SEED

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=80)
    parser.add_argument("--draws", type=int, default=3, help="test draws: the shipped one and draws-1 others")
    args = parser.parse_args(argv)
    seeds = [TEST_SEED] + [1000 + i for i in range(args.draws - 1)]
    print(f"ofa_mbv3_digits: {args.subnets} random sub-networks, test draws (distortion seeds) {seeds}")
    acc = measure_draws(args.subnets, seeds)
    pairs = list(itertools.combinations(range(len(seeds)), 2))
    r = [pearsonr(acc[:, i], acc[:, j])[0] for i, j in pairs]
    tau = [kendalltau(acc[:, i], acc[:, j])[0] for i, j in pairs]
    print(
        f"between draws, across sub-networks: Pearson r {np.mean(r):.2f} (pairs {', '.join(f'{v:.2f}' for v in r)}), "
        f"Kendall tau {np.mean(tau):.2f}"
    )
    print(
        f"share of the variance of measured top-1 due to the sub-network (mean r): {np.mean(r):.0%}; "
        f"the rest is the test draw"
    )
    return {"pearson": r, "kendall": tau, "accuracy": acc}


if __name__ == "__main__":
    main()
