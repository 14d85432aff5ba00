"""Basic NAS search algorithms, one per module, all reachable by name through `searcher_registry`."""

from neural_nas.searchers._base import Searcher, searcher_registry
from neural_nas.searchers.bayesian import BayesianSearcher
from neural_nas.searchers.grid import GridSearcher
from neural_nas.searchers.random import RandomSearcher, random_unvisited

__all__ = ["BayesianSearcher", "GridSearcher", "RandomSearcher", "Searcher", "random_unvisited", "searcher_registry"]
