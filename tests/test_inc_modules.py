"""The reference's module paths and public helpers, backed by the library's own code."""

import numpy as np
import pytest

from neural_nas import NASBase, NASConfig, nas_registry
from neural_nas.errors import ConfigError


def test_the_references_module_paths_give_the_librarys_objects():
    from neural_nas import NAS, BasicNAS, DyNAS
    from neural_nas.experimental.nas import basic_nas, dynas, nas, nas_utils, search_algorithms
    from neural_nas.searchers import BayesianSearcher, GridSearcher, RandomSearcher, Searcher

    assert (nas.NAS, nas.NASBase, basic_nas.BasicNAS, dynas.DyNAS) == (NAS, NASBase, BasicNAS, DyNAS)
    assert nas_utils.nas_registry is nas_registry
    assert search_algorithms.Searcher is Searcher and search_algorithms.GridSearcher is GridSearcher
    assert search_algorithms.RandomSearcher is RandomSearcher
    assert search_algorithms.BayesianOptimizationSearcher is BayesianSearcher


@pytest.mark.parametrize(
    ("points", "front"),
    [
        ([[3, 1], [1, 3], [2, 2], [1, 1]], [0, 1, 2]),
        ([[1, 2], [2, 1], [1, 2], [0, 0]], [0, 1]),  # of identical points the first
        ([[1, 5], [2, 5]], [1]),  # equal in one metric, better in the other
        (np.zeros((0, 2)), []),
    ],
)
def test_find_pareto_front_all_metrics_higher_is_better(points, front):
    from neural_nas.experimental.nas.nas_utils import find_pareto_front

    result = find_pareto_front(points)
    assert isinstance(result, np.ndarray) and result.tolist() == front


def test_search_space_pool_is_the_grid_order():
    from neural_nas.experimental.nas.nas_utils import create_search_space_pool
    from neural_nas.experimental.nas.search_algorithms import GridSearcher

    space = {"width": [8, 16], "depth": [1, 2, 3]}
    pool = create_search_space_pool(space)
    assert pool == [[d, w] for d in (1, 2, 3) for w in (8, 16)]  # sorted keys (depth, width), first key slowest
    assert create_search_space_pool(space, idx=1) == [[8], [16]]
    grid = GridSearcher(space)
    assert [[a["depth"], a["width"]] for a in iter(grid.suggest, None)] == pool


def test_nas_methods_is_the_live_approach_table():
    from neural_nas.experimental.nas.nas_utils import NASMethods

    assert {"basic", "dynas"} <= set(NASMethods) and NASMethods["dynas"].__name__ == "DyNAS"

    @nas_registry("mine_for_tests")
    class Mine(NASBase):
        pass

    assert NASMethods["mine_for_tests"] is Mine and "mine_for_tests" in NASMethods
    with pytest.raises(KeyError):
        NASMethods["nope"]


def test_init_search_cfg_adopts_and_checks_a_custom_approachs_config():
    class Custom(NASBase):
        def __init__(self, conf, search_space=None, model_builder=None):
            super().__init__(search_space, model_builder)
            self.init_search_cfg(conf.nas)  # the reference's idiom

    agent = Custom(NASConfig(search_space={"w": [1, 2]}, search_algorithm="grid"))
    assert agent.search_space == {"w": [1, 2]} and agent.conf.nas.search.search_algorithm == "grid"
    with pytest.raises(ConfigError, match="nas.search.search_space"):
        Custom(NASConfig())
    with pytest.raises(ConfigError, match="init_search_cfg"):
        NASBase().init_search_cfg({"search": {}})
