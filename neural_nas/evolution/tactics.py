"""Search tactics: how Dynamic NAS spends its measurement budget. Registered by name (``nas.dynas.search_tactic``).

- ``linas``: measure ``initial_population`` random sub-networks (default: 20, at most one population), then loop: fit
  predictors on every measurement, run the evolutionary algorithm on the predictors (exact metrics stay exact) from a
  first population that is half the best measured sub-networks, measure the best unmeasured sub-networks it found.
  An algorithm with an ``inner_search`` (``nsga2``: `evolution.numpy_nsga2`) runs that instead of its pymoo form.
  A search space of at most ``EXHAUSTIVE_LIMIT`` encodings is searched exactly instead: every unmeasured network is
  predicted and the predicted front is measured.
- ``evolutionary``: the same algorithm, measuring every individual for real (the baseline LINAS must beat).
- ``random``: uniformly random sub-networks (the other baseline).

A tactic is a function of a `SearchState`; it stops when ``state.remaining()`` is 0. Measured sub-networks are never
measured again: resumed rows count toward the budget and feed the predictors.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from neural_nas._registry import Registry
from neural_nas.evolution.algorithms import AlgorithmSpec
from neural_nas.evolution.problem import SubnetProblem
from neural_nas.pareto import best_first, spread_best  # best_first also for tactics written elsewhere (docs)

logger = logging.getLogger("neural_nas")

tactic_registry: Registry = Registry("search tactic", "nas.dynas.search_tactic")

# The evolutionary search on predictors runs with at least this population. The same predicted-evaluation budget then
# runs fewer generations (each costs a fixed overhead), and the wider final population leaves more unmeasured
# candidates to choose from; the best `population` of it are measured. 200 rather than 50: more hypervolume per
# measurement in fewer seconds (benchmarks/RESULTS.md, 'Closing issue 14').
MIN_INNER_POPULATION = 200

# Random sub-networks measured before the predictors are first fitted, unless `nas.dynas.initial_population` says
# otherwise (at most one population). The reference measures a whole population (50) first; a smaller first step
# reaches a good front with fewer measurements (benchmarks/RESULTS.md, "Sample efficiency").
DEFAULT_INITIAL_POPULATION = 20

# Share of the inner search's first population taken from the best measured sub-networks (the rest is random): the
# search then refines real winners as well as exploring (the ablation is in benchmarks/RESULTS.md); the reference
# starts from a random population (share 0).
MEASURED_SHARE = 0.5

# The evolutionary baseline stops when this many generations in a row bring no unmeasured sub-network (in a small
# search space a converged population only re-proposes what is measured, and pymoo would do so forever).
MAX_STALLED_GENERATIONS = 20


# Search spaces of at most this many encodings are searched exhaustively on the predictors: every unmeasured network
# is predicted and the predicted front measured, in milliseconds, where the evolutionary search would spend its time
# re-drawing duplicates (the loop's cost on both paths: benchmarks/RESULTS.md, 'Search overhead').
EXHAUSTIVE_LIMIT = 200_000


class SearchState(Protocol):
    """What a tactic gets from the Dynamic NAS driver."""

    population: int
    initial_population: int
    inner_evals: int
    algorithm: AlgorithmSpec

    def n_measured(self) -> int:
        """Sub-networks measured so far (failures excluded)."""

    def remaining(self) -> int:
        """Measurements left in the budget."""

    def new_seed(self) -> int:
        """A seed for pymoo, drawn from the search's own generator."""

    def best_measured(self, n: int) -> np.ndarray:
        """Up to ``n`` measured vectors, best first (non-dominated rank of their measured values)."""

    def n_unmeasured(self) -> int:
        """Sub-networks of the search space not measured (nor recorded as failed) yet."""

    def all_unmeasured(self, limit: int) -> np.ndarray | None:
        """Every network not measured yet (canonical forms) if the search space has at most ``limit`` encodings; else
        None."""

    def random_unmeasured(self, n: int) -> np.ndarray:
        """Up to ``n`` distinct random vectors that are not measured yet (fewer only if the space runs out)."""

    def unmeasured(self, vectors: np.ndarray) -> np.ndarray:
        """The rows of ``vectors`` not measured yet, duplicates removed, order kept."""

    def measure(self, vectors: np.ndarray) -> None:
        """Measure each row and append it to the results file before the next one starts (rows measured already,
        or repeated, are not measured again)."""

    def predicted_problem(self) -> SubnetProblem | None:
        """A problem on predictors fitted to every measurement so far (exact metrics computed exactly); None while
        fewer than ``initial_population`` sub-networks are measured."""

    constrained: bool  # the search measures only sub-networks that meet nas.dynas.constraints

    def measured_problem(self) -> SubnetProblem:
        """A problem that reads measured values (a failed or unmeasured row scores as a failure: the worst measured
        value of each metric)."""


@tactic_registry("random")
def random_search(state: SearchState) -> None:
    while state.remaining() > 0:
        batch = state.random_unmeasured(min(state.population, state.remaining()))
        if len(batch) == 0:
            logger.info("every sub-network of the search space is measured")
            return
        state.measure(batch)


@tactic_registry("linas")
def linas(state: SearchState) -> None:
    from pymoo.optimize import minimize

    while state.remaining() > 0:
        want = min(state.population, state.remaining())
        if state.n_unmeasured() <= want:  # what is left of the space fits in this population: no search needed
            batch = state.random_unmeasured(want)
        elif (problem := state.predicted_problem()) is None:  # too few measurements to fit: the random first ones
            batch = state.random_unmeasured(min(state.initial_population - state.n_measured(), state.remaining()))
        elif (every := state.all_unmeasured(EXHAUSTIVE_LIMIT)) is not None:  # small: predict all, measure the best
            batch = every[spread_best(problem.evaluate(every, return_values_of=["F"]), want)] if len(every) else every
        else:
            inner_population = max(state.population, MIN_INNER_POPULATION)
            seed = state.new_seed()
            best = state.best_measured(int(MEASURED_SHARE * inner_population))
            first = np.concatenate([best, state.random_unmeasured(inner_population - len(best))])
            if state.algorithm.inner_search is not None:  # on arrays: no per-individual bookkeeping
                rng = np.random.default_rng([seed, state.new_seed()])
                found, values = state.algorithm.inner_search(problem, first, state.inner_evals, rng)
            else:
                algorithm = state.algorithm.build(inner_population, seed, sampling=first)
                result = minimize(
                    problem, algorithm, ("n_eval", state.inner_evals), seed=state.new_seed(), verbose=False
                )
                found, values = problem.as_indices(result.pop.get("X")), result.pop.get("F")
            batch = state.unmeasured(best_first(found, values))[:want]
            if len(batch) < want:  # the predictors' favourites are measured already: explore at random
                batch = state.unmeasured(np.concatenate([batch, state.random_unmeasured(want - len(batch))]))
        if len(batch) == 0:
            logger.info("every sub-network of the search space is measured")
            return
        state.measure(batch)


@tactic_registry("evolutionary")
def evolutionary(state: SearchState) -> None:
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.termination import NoTermination

    problem = state.measured_problem()
    # Under constraints the first population is drawn among the sub-networks that meet them (a random one may hold
    # none); without, it is the algorithm's own random sampling, as in the reference.
    first = state.random_unmeasured(state.population) if getattr(state, "constrained", False) else None
    sampling = {"sampling": first} if first is not None and len(first) else {}
    algorithm = state.algorithm.build(state.population, state.new_seed(), **sampling)
    algorithm.setup(problem, termination=NoTermination(), seed=state.new_seed(), verbose=False)
    stalled = 0  # generations in a row that proposed nothing new
    while state.remaining() > 0:
        offspring = algorithm.ask() if state.n_unmeasured() and stalled < MAX_STALLED_GENERATIONS else []
        if len(offspring) == 0:
            logger.info("the evolutionary search proposes no new sub-networks (converged, or the space is measured)")
            return
        vectors = problem.as_indices(offspring.get("X"))
        new = state.unmeasured(vectors)
        stalled = 0 if len(new) else stalled + 1
        state.measure(new[: state.remaining()])
        if len(state.unmeasured(vectors)):
            return  # budget spent in the middle of a generation
        Evaluator().eval(problem, offspring)
        algorithm.tell(infills=offspring)
