"""Basic NAS on scikit-learn's bundled digits: a small CNN searched over channels, width and depth.

Two metrics: held-out accuracy (higher is better) and parameter count (lower is better). Runs offline in about a
minute on 2 CPU cores and prints the Pareto front:

    python examples/basic_nas_digits.py [--max-trials 12] [--epochs 15] [--algorithm bo] [--out DIR]

Re-running the same command resumes: earlier architectures are read from ``DIR/NASResults`` and not trained again.
"""

from __future__ import annotations

import argparse
import logging

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from neural_nas import NAS, NASConfig

SEARCH_SPACE = {
    "channels": [4, 8, 16],  # output channels of the first conv layer (doubling per extra layer)
    "depth": [1, 2, 3],  # number of conv layers
    "width": [16, 32, 64],  # hidden units of the classifier
}


def digits_tensors(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """The 1,797 8x8 digits as (N, 1, 8, 8) floats in [0, 1], split 75/25 with stratification (held-out test set)."""
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(range(len(y)), test_size=0.25, random_state=seed, stratify=digits.target)
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]


def build_model(arch: dict, seed: int = 0) -> nn.Module:
    layers, in_ch = [], 1
    for i in range(arch["depth"]):
        out_ch = arch["channels"] * 2**i
        layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU()]
        in_ch = out_ch
    layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(in_ch * 4, arch["width"]), nn.ReLU()]
    layers += [nn.Linear(arch["width"], 10)]
    with torch.random.fork_rng():  # seeded initialisation without disturbing the caller's global RNG
        torch.manual_seed(seed)
        return nn.Sequential(*layers)


def make_functions(epochs: int, seed: int = 0):
    x_train, y_train, x_test, y_test = digits_tensors(seed)

    def train(model: nn.Module) -> None:
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(order), 64):
                batch = order[start : start + 64]
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
                optimizer.step()

    def evaluate(model: nn.Module) -> dict:
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        return {"accuracy": accuracy, "params": sum(p.numel() for p in model.parameters())}

    return train, evaluate


def run(max_trials: int = 12, epochs: int = 15, algorithm: str = "bo", out: str | None = None, seed: int = 42):
    config = NASConfig(approach="basic", search_space=SEARCH_SPACE, search_algorithm=algorithm)
    config.nas.search.metrics = ["accuracy", "params"]
    config.nas.search.higher_is_better = [True, False]
    config.nas.search.max_trials = max_trials
    config.nas.search.seed = seed
    agent = NAS(config, model_builder=build_model)
    agent.train_func, agent.eval_func = make_functions(epochs)
    front = agent.search(res_save_path=out)
    return agent, front


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--algorithm", default="bo", help="grid, random or bo")
    parser.add_argument("--out", default=None, help="folder for NASResults/ (default: the current folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    torch.set_num_threads(1)  # these models are tiny: one thread avoids synchronisation overhead
    agent, front = run(args.max_trials, args.epochs, args.algorithm, args.out)
    print(f"\nPareto front ({len(front)} of {len(agent.search_results)} measured architectures):")
    print(f"{'channels':>8} {'depth':>5} {'width':>5} {'accuracy':>9} {'params':>8}")
    results = agent.search_results
    for arch in sorted(front, key=lambda a: results[(a["channels"], a["depth"], a["width"])]["params"]):
        m = results[(arch["channels"], arch["depth"], arch["width"])]
        row = f"{arch['channels']:>8} {arch['depth']:>5} {arch['width']:>5}"
        print(f"{row} {m['accuracy']:>9.4f} {int(m['params']):>8}")


if __name__ == "__main__":
    main()
