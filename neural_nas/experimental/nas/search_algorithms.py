"""Drop-in for the reference's module ``neural_compressor.experimental.nas.search_algorithms``.

The classes are the library's own searchers (`neural_nas.searchers`), under the reference's names. Two differences:
a searcher returns None once every architecture of the space was proposed (the reference started over; the search
loop stops there either way), and the random and Bayesian searchers draw from their own seeded generators (the
reference used the global random state), so their sequences differ from the reference's for the same seed.
"""

from neural_nas.searchers import BayesianSearcher, GridSearcher, RandomSearcher, Searcher

BayesianOptimizationSearcher = BayesianSearcher

__all__ = ["BayesianOptimizationSearcher", "GridSearcher", "RandomSearcher", "Searcher"]
