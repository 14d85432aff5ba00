"""The Dynamic NAS side of the search: the pymoo problem and the registered evolutionary algorithms."""

from neural_nas.evolution.algorithms import AlgorithmSpec, algorithm_for, algorithm_registry
from neural_nas.evolution.problem import SubnetProblem

__all__ = ["AlgorithmSpec", "SubnetProblem", "algorithm_for", "algorithm_registry"]
