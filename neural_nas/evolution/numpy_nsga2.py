"""NSGA-II on whole populations of choice-index vectors in numpy: the inner search of the ``linas`` tactic.

pymoo's NSGA-II keeps one Python object per individual, and with cheap (predicted) objectives its per-generation
bookkeeping was most of a Dynamic NAS loop's cost. This one works on arrays and keeps pymoo's recipe as registered in
`evolution.algorithms`: binary tournaments on (dominance, crowding), SBX crossover (probability 0.9 per pair, 0.5 per
gene, eta 15, both children of each pair kept), polynomial mutation (probability 0.02 per child, 1 / genes per gene,
eta 20), rounding to choice indices, duplicates eliminated, survival by non-dominated rank then crowding distance
(`neural_nas.pareto.survivors`), and pymoo's order within a front (the rows that survived longest first). `linas`
measures the final front in that order, and both details count there: keeping one child of twice the pairs, or
ordering fronts by crowding, each measured worse (benchmarks/RESULTS.md, 'Closing issue 14').

Duplicates are removed from each batch of children against the population and each other; where crossover and
mutation of a converged population keep proposing the same vectors, the shortfall is filled with random vectors
instead of drawing again and again.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from neural_nas.pareto import dominates, survivors

# Offspring batches drawn per generation before the shortfall is filled at random.
MAX_OFFSPRING_DRAWS = 3


def _keys(vectors: np.ndarray) -> np.ndarray:
    """One hashable scalar per row (its bytes), for set operations on rows."""
    rows = np.ascontiguousarray(vectors, dtype=np.int64)
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def _tournament(values: np.ndarray, crowding: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` parents, each the winner of two members (drawn as pymoo does, from shuffled copies of the population, so
    every member competes about as often): the one that dominates, else the less crowded, else a coin."""
    rounds = -(-2 * n // len(values))
    pairs = np.concatenate([rng.permutation(len(values)) for _ in range(rounds)])[: 2 * n].reshape(n, 2)
    a, b = pairs[:, 0], pairs[:, 1]
    a_dominates, b_dominates = dominates(values[a], values[b]), dominates(values[b], values[a])
    coin = rng.random(n) < 0.5
    by_crowding = np.where(crowding[a] == crowding[b], coin, crowding[a] > crowding[b])
    return np.where(a_dominates, a, np.where(b_dominates, b, np.where(by_crowding, a, b)))


def _sbx(p1: np.ndarray, p2: np.ndarray, upper: np.ndarray, rng: np.random.Generator, eta: float = 15.0) -> np.ndarray:
    """Simulated binary crossover of parent pairs (rows of reals in [0, upper]): two children per pair, pair by pair."""
    n, genes = p1.shape
    cross = (rng.random((n, genes)) < 0.5) & (rng.random((n, 1)) < 0.9) & (np.abs(p1 - p2) > 1e-14) & (upper > 0)
    rows, cols = np.nonzero(cross)  # only these genes change: compute on them alone
    y1, y2 = np.minimum(p1[rows, cols], p2[rows, cols]), np.maximum(p1[rows, cols], p2[rows, cols])
    top, delta, rand = upper[cols], y2 - y1, rng.random(len(rows))

    def spread(beta: np.ndarray) -> np.ndarray:
        alpha = 2.0 - np.power(beta, -(eta + 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                rand <= 1.0 / alpha,
                np.power(rand * alpha, 1.0 / (eta + 1.0)),
                np.power(1.0 / (2.0 - rand * alpha), 1.0 / (eta + 1.0)),
            )

    c1 = 0.5 * ((y1 + y2) - spread(1.0 + 2.0 * y1 / delta) * delta)
    c2 = 0.5 * ((y1 + y2) + spread(1.0 + 2.0 * (top - y2) / delta) * delta)
    swap = rng.random(len(rows)) < 0.5  # which child goes with which parent
    first, second = p1.copy(), p2.copy()
    first[rows, cols], second[rows, cols] = np.where(swap, c2, c1), np.where(swap, c1, c2)
    return np.clip(np.stack([first, second], axis=1).reshape(-1, genes), 0, upper)


def _polynomial_mutation(x: np.ndarray, upper: np.ndarray, rng: np.random.Generator, eta: float = 20.0) -> np.ndarray:
    """Polynomial mutation of 2 % of the rows, each gene with probability 1 / genes."""
    n, genes = x.shape
    mutate = (rng.random((n, 1)) < 0.02) & (rng.random((n, genes)) < 1.0 / genes) & (upper > 0)
    rows, cols = np.nonzero(mutate)
    if len(rows) == 0:
        return x
    span, value, rand = upper[cols], x[rows, cols], rng.random(len(rows))
    d1, d2 = value / span, (span - value) / span
    power = 1.0 / (eta + 1.0)
    with np.errstate(invalid="ignore"):
        down = np.power(2.0 * rand + (1.0 - 2.0 * rand) * np.power(1.0 - d1, eta + 1.0), power) - 1.0
        up = 1.0 - np.power(2.0 * (1.0 - rand) + 2.0 * (rand - 0.5) * np.power(1.0 - d2, eta + 1.0), power)
    out = x.copy()
    out[rows, cols] = np.clip(value + np.where(rand <= 0.5, down, up) * span, 0, span)
    return out


def _offspring(
    parents: np.ndarray, values: np.ndarray, crowding: np.ndarray, n: int, upper: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``n`` children that are neither in ``parents`` nor repeated (random vectors where variation finds too few)."""
    seen = set(_keys(parents).tolist())
    children: list[np.ndarray] = []
    for _ in range(MAX_OFFSPRING_DRAWS):
        # Both children of each pair in turn (as pymoo), from twice the pairs needed: rounding often gives back a
        # parent, and spare pairs cost less than drawing again.
        pairs = n - len(children)
        mates = parents[_tournament(values, crowding, 2 * pairs, rng)].astype(float)
        batch = np.rint(_polynomial_mutation(_sbx(mates[:pairs], mates[pairs:], upper, rng), upper, rng))
        children += _new_rows(batch.astype(np.int64), seen)
        if len(children) >= n:
            return np.stack(children[:n])
    while len(children) < n:  # a converged population: explore instead of redrawing the same children
        batch = rng.integers(0, upper.astype(np.int64) + 1, size=(2 * (n - len(children)), len(upper)))
        children += _new_rows(batch, seen)
    return np.stack(children[:n])


def _new_rows(batch: np.ndarray, seen: set) -> list[np.ndarray]:
    out = []
    for row, key in zip(batch, _keys(batch).tolist()):
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def nsga2(
    objectives: Callable[[np.ndarray], np.ndarray],
    cardinalities: np.ndarray,
    first: np.ndarray,
    evaluations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``objectives`` (rows of choice indices -> rows of objective values) with NSGA-II from the population
    ``first`` (its size is the population's), for ``evaluations`` evaluated vectors in all, the first population
    included. Returns the final population and its objectives in survival order: fronts by rank, within a whole front
    the rows that survived longest first.

    A search space smaller than twice the population cannot supply distinct children; it stops early then.
    """
    upper = np.asarray(cardinalities, dtype=float) - 1
    first = np.asarray(first, dtype=np.int64)
    size = len(first)
    if size == 0:
        return first, np.empty((0, 0))
    population = first[np.sort(np.unique(first, axis=0, return_index=True)[1])]  # repeats dropped, order kept
    values = np.atleast_2d(np.asarray(objectives(population), dtype=float))
    order, _, crowding = survivors(values, size)
    population, values = population[order], values[order]
    spent = len(population)
    space = float(np.prod(upper + 1))
    while spent < evaluations and space >= 2 * size:
        children = _offspring(population, values, crowding, min(size, evaluations - spent), upper, rng)
        merged = np.concatenate([population, children])
        merged_values = np.concatenate([values, np.atleast_2d(np.asarray(objectives(children), dtype=float))])
        order, _, crowding = survivors(merged_values, size)
        population, values = merged[order], merged_values[order]
        spent += len(children)
    return population, values
