import itertools
import random

import numpy as np
import pytest

from neural_nas.errors import ConfigError
from neural_nas.searchers import BayesianSearcher, GridSearcher, RandomSearcher, Searcher, searcher_registry

SPACE = {"b": [1, 2], "a": ["x", "y", "z"], "c": [True, False]}


def drain(searcher, n=None, score=lambda arch: 0.0):
    out = []
    while n is None or len(out) < n:
        arch = searcher.suggest()
        if arch is None:
            break
        out.append(arch)
        searcher.get_feedback(score(arch))
    return out


def test_grid_is_the_cartesian_product_in_sorted_key_order_first_key_slowest():
    archs = drain(GridSearcher(SPACE))
    expected = [
        dict(zip(["a", "b", "c"], combo)) for combo in itertools.product(["x", "y", "z"], [1, 2], [True, False])
    ]
    assert archs == expected
    assert list(archs[0]) == ["a", "b", "c"]


@pytest.mark.parametrize("cls", [GridSearcher, RandomSearcher, BayesianSearcher])
def test_no_architecture_is_proposed_twice_and_the_space_is_exhausted(cls):
    archs = drain(cls(SPACE, seed=3), score=lambda a: float(a["b"]) + (a["a"] == "y"))
    keys = [tuple(sorted(a.items())) for a in archs]
    assert len(keys) == len(set(keys)) == 12


@pytest.mark.parametrize("cls", [RandomSearcher, BayesianSearcher])
def test_seeded_searchers_are_reproducible_and_ignore_global_random_state(cls):
    def run(seed, disturb):
        s = cls(SPACE, seed=seed)
        out = []
        for _ in range(8):
            if disturb:
                random.random()
                np.random.rand()
            arch = s.suggest()
            out.append(arch)
            s.get_feedback(float(arch["b"]) * (1 + (arch["a"] == "z")))
        return out

    assert run(42, False) == run(42, True)
    assert run(1, False) != run(2, False)


def test_searchers_do_not_touch_the_global_random_state():
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    drain(RandomSearcher(SPACE, seed=1), 6)
    drain(BayesianSearcher(SPACE, seed=1), 6, score=lambda a: float(a["b"]))
    assert (random.random(), np.random.rand()) == expected


def test_random_is_uniform_over_the_first_draw():
    counts = {}
    for seed in range(600):
        arch = RandomSearcher({"p": [0, 1, 2]}, seed=seed).suggest()
        counts[arch["p"]] = counts.get(arch["p"], 0) + 1
    assert all(150 < c < 250 for c in counts.values())


def test_random_handles_a_huge_space():
    space = {f"p{i}": list(range(10)) for i in range(30)}
    archs = drain(RandomSearcher(space, seed=0), 50)
    assert len({tuple(a.values()) for a in archs}) == 50


def test_bayesian_is_random_until_two_distinct_scores():
    bo = BayesianSearcher(SPACE, seed=11)
    rnd = RandomSearcher(SPACE, seed=11)
    assert drain(bo, 4, score=lambda a: 1.0) == drain(rnd, 4, score=lambda a: 1.0)


def _objective(arch):
    # A smooth bowl with its top at (13, 6) on a 20 x 20 grid.
    return -((arch["x"] - 13) ** 2) - 0.5 * (arch["y"] - 6) ** 2


def _best_after(cls, seed, trials=15):
    s = cls({"x": list(range(20)), "y": list(range(20))}, seed=seed)
    best = -np.inf
    for _ in range(trials):
        arch = s.suggest()
        value = _objective(arch)
        best = max(best, value)
        s.get_feedback(value)
    return best


def test_bayesian_beats_random_on_average_over_seeds():
    seeds = range(6)
    bo = np.mean([_best_after(BayesianSearcher, s) for s in seeds])
    rnd = np.mean([_best_after(RandomSearcher, s) for s in seeds])
    assert bo > rnd


def test_registry_has_the_builtins_and_takes_user_searchers():
    assert {"grid", "random", "bo"} <= set(searcher_registry.names())
    assert searcher_registry.get("BO") is BayesianSearcher
    with pytest.raises(ConfigError, match="nas.search.search_algorithm.*did you mean 'grid'"):
        searcher_registry.get("gird")

    @searcher_registry("reverse_grid_for_test")
    class ReverseGrid(Searcher):
        def _next(self, visited):
            for combo in reversed(list(itertools.product(*(range(len(c)) for c in self.space.choices)))):
                if combo not in visited:
                    return combo
            return None

    assert drain(searcher_registry.get("reverse_grid_for_test")(SPACE, seed=0), 1) == [{"a": "z", "b": 2, "c": False}]


def test_feedback_before_suggest_is_an_error():
    with pytest.raises(RuntimeError):
        GridSearcher(SPACE).get_feedback(1.0)
