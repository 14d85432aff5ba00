"""The pymoo algorithms Dynamic NAS can run, registered by name with the objective counts each accepts.

Reference operators: integer random sampling, SBX crossover (p 0.9, eta 15), polynomial mutation (p 0.02, eta 20),
rounding repair, duplicates eliminated.

``nsga2`` also has an ``inner_search``: the same recipe in numpy (`evolution.numpy_nsga2`), which the ``linas``
tactic runs on its predictors; pymoo's runs where every individual is measured (the ``evolutionary`` tactic).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from neural_nas._registry import Registry

logger = logging.getLogger("neural_nas")


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    n_objectives: int
    # (population, seed, sampling) -> a pymoo Algorithm; sampling is its first population (an array of choice-index
    # rows) or None for integer random sampling.
    make: Callable[[int, int, Any], Any]
    default: bool = False
    # (problem, first population, evaluations, numpy Generator) -> (final population, its minimised objectives): a
    # search on whole arrays that ``linas`` runs on its predictors instead of the pymoo algorithm (None: pymoo's).
    inner_search: Callable[[Any, np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None

    def __post_init__(self) -> None:
        try:
            inspect.signature(self.make).bind(0, 0, None)
        except TypeError:
            raise TypeError(
                f"algorithm {self.name!r}: make must take (population, seed, sampling); sampling is the first "
                "population as an array of choice-index rows, or None for random sampling"
            ) from None

    def build(self, population: int, seed: int, sampling: np.ndarray | None = None) -> Any:
        """A new pymoo algorithm; ``sampling`` (rows of choice indices) is its first population when given."""
        return self.make(population, seed, None if sampling is None else np.asarray(sampling, dtype=float))


algorithm_registry: Registry[AlgorithmSpec] = Registry("evolutionary algorithm", "nas.search.search_algorithm")


def _operators(sampling: Any) -> dict[str, Any]:
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    return {
        "sampling": IntegerRandomSampling() if sampling is None else sampling,
        "crossover": SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        "mutation": PM(prob=0.02, eta=20, vtype=float, repair=RoundingRepair()),
        "eliminate_duplicates": True,
    }


def _ref_dirs(population: int, seed: int) -> Any:
    from pymoo.util.ref_dirs import get_reference_directions

    # As many well-spread directions as the population (3 objectives).
    return get_reference_directions("energy", 3, population, seed=seed)


def _numpy_nsga2(
    problem: Any, first: np.ndarray, evaluations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    from neural_nas.evolution.numpy_nsga2 import nsga2

    return nsga2(problem.minimised, np.asarray(problem.xu) + 1, first, evaluations, rng)


def _ga(population: int, seed: int, sampling: Any) -> Any:
    from pymoo.algorithms.soo.nonconvex.ga import GA

    return GA(pop_size=population, **_operators(sampling))


def _cmaes(population: int, seed: int, sampling: Any) -> Any:
    from pymoo.algorithms.soo.nonconvex.cmaes import CMAES

    # CMA-ES samples real vectors; the problem rounds and clips them to choice indices.
    # Its start point is the best of a sample: pymoo's default sample, or the given first population (pymoo takes an
    # array of rows as x0 for that).
    return CMAES(popsize=population, restarts=0, x0=sampling)


def _nsga2(population: int, seed: int, sampling: Any) -> Any:
    from pymoo.algorithms.moo.nsga2 import NSGA2

    return NSGA2(pop_size=population, **_operators(sampling))


def _age(population: int, seed: int, sampling: Any) -> Any:
    try:
        import numba  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "search_algorithm 'age' (pymoo's AGE-MOEA) needs numba: pip install 'neural-nas[age]'"
        ) from err
    from pymoo.algorithms.moo.age import AGEMOEA

    return AGEMOEA(pop_size=population, **_operators(sampling))


def _unsga3(population: int, seed: int, sampling: Any) -> Any:
    from pymoo.algorithms.moo.unsga3 import UNSGA3

    return UNSGA3(ref_dirs=_ref_dirs(population, seed), pop_size=population, **_operators(sampling))


def _ctaea(population: int, seed: int, sampling: Any) -> Any:
    from pymoo.algorithms.moo.ctaea import CTAEA

    ops = _operators(sampling)
    ops.pop("eliminate_duplicates")  # C-TAEA manages its own archives
    return CTAEA(ref_dirs=_ref_dirs(population, seed), **ops)


def _moead(population: int, seed: int, sampling: Any) -> Any:
    from pymoo.algorithms.moo.moead import MOEAD

    ops = _operators(sampling)
    ops.pop("eliminate_duplicates")
    return MOEAD(
        ref_dirs=_ref_dirs(population, seed), n_neighbors=min(15, population - 1), prob_neighbor_mating=0.7, **ops
    )


for _spec in [
    AlgorithmSpec("ga", 1, _ga, default=True),
    AlgorithmSpec("cmaes", 1, _cmaes),
    AlgorithmSpec("nsga2", 2, _nsga2, default=True, inner_search=_numpy_nsga2),
    AlgorithmSpec("age", 2, _age),
    AlgorithmSpec("unsga3", 3, _unsga3, default=True),
    AlgorithmSpec("ctaea", 3, _ctaea),
    AlgorithmSpec("moead", 3, _moead),
]:
    algorithm_registry.register(_spec.name, _spec)


def algorithm_for(name: str | None, n_objectives: int) -> AlgorithmSpec:
    """The registered algorithm ``name`` (None: the default for the objective count). A registered algorithm of
    another objective count gives way to this count's default, with a warning, as in the reference (whose notebooks
    name `nsga2` for one to three objectives and run GA or U-NSGA-III); an unknown name is a ConfigError."""
    fitting = [algorithm_registry.get(n) for n in algorithm_registry.names()]
    fitting = [s for s in fitting if s.n_objectives == n_objectives]
    default = next(s for s in fitting if s.default)
    if name is None:
        return default
    spec = algorithm_registry.get(name)  # an unknown name fails here, listing the registered ones
    if spec.n_objectives != n_objectives:
        logger.warning(
            "nas.search.search_algorithm %r optimises %d objective(s); with %d objective(s) %r runs (the reference's "
            "choice; for %d objective(s) choose from: %s)",
            spec.name,
            spec.n_objectives,
            n_objectives,
            default.name,
            n_objectives,
            ", ".join(s.name for s in fitting),
        )
        return default
    return spec
