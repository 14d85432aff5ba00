"""Dynamic NAS on your own search space, measured by your own function.

Registering a `SuperNetwork` subclass with an `Encoding` (the genes) and a `measure` method is all it takes: the same
predictor-in-the-loop search, results CSV, resume and Pareto front then work on it. Here the "super-network" is a
family of scikit-learn MLPs on the bundled digits data, each measured by training it for real:

    python examples/custom_supernet.py [--num-evals 40] [--population 10] [--csv digits_mlp.csv]
"""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from neural_nas import NAS, NASConfig
from neural_nas.supernets import Encoding, SuperNetwork, supernet_registry


@cache
def digits_split() -> tuple[Any, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x / 16.0, y, test_size=0.25, random_state=0, stratify=y))


@supernet_registry("digits_mlp")
class DigitsMLPSpace(SuperNetwork):
    """Up to three hidden layers; each has a width gene and an on/off gene."""

    name = "digits_mlp"
    encoding = Encoding({"width": {"count": 3, "vars": [8, 16, 32, 64]}, "active": {"count": 3, "vars": [0, 1]}})
    metrics = ("accuracy_top1", "params")
    measures_itself = True  # measure() below gives every metric

    def measure(self, subnet: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, float]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        layers = tuple(w for w, on in zip(subnet["width"], subnet["active"]) if on) or (subnet["width"][0],)
        x_train, x_test, y_train, y_test = digits_split()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a short, fixed training budget on purpose
            model = MLPClassifier(hidden_layer_sizes=layers, max_iter=40, random_state=0).fit(x_train, y_train)
        params = sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_)
        return {"accuracy_top1": 100.0 * model.score(x_test, y_test), "params": float(params)}


def run(num_evals: int = 40, population: int = 10, csv: str = "digits_mlp.csv", seed: int = 42) -> Any:
    config = NASConfig(approach="dynas", search_algorithm="nsga2")
    config.dynas.supernet = "digits_mlp"
    config.dynas.metrics = ["acc", "params"]
    config.dynas.population = population
    config.dynas.num_evals = num_evals
    config.dynas.results_csv_path = csv
    config.dynas.inner_evals = 2000  # a small space: a short search on the predictors is plenty
    config.nas.search.seed = seed
    agent = NAS(config)
    agent.search()
    return agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-evals", type=int, default=40)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--csv", default="digits_mlp.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    agent = run(args.num_evals, args.population, args.csv)
    results = agent.search_results
    print(f"\nMeasured Pareto front ({len(agent.best_model_archs)} of {len(results)}):")
    for subnet in sorted(agent.best_model_archs, key=lambda s: results[_key(s)]["params"]):
        m = results[_key(subnet)]
        print(f"  top-1 {m['accuracy_top1']:6.2f} %  params {int(m['params']):6d}  {subnet}")


def _key(subnet: Mapping[str, Any]) -> tuple:
    from neural_nas.results.study import arch_key

    return arch_key(subnet)


if __name__ == "__main__":
    main()
