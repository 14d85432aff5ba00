"""The settings of one Dynamic NAS search: read from the config and validated once, then frozen.

Everything the config can get wrong about the search fails in `resolve`, before any measurement; the driver reads
these fields, never the config. The rules every approach shares (failures, resume) are the run's: `neural_nas.nas.run`.
How to measure (data set, weights, device, batch sizes) is the ``nas.dynas`` section that
`subnet_measurement.SubnetMeasurement` reads, checked by the data set and weights themselves when prepared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neural_nas.config import NASConfig
from neural_nas.errors import ConfigError

logger = logging.getLogger("neural_nas")

# nas.search keys only Basic NAS reads, and what a Dynamic NAS config sets instead.
BASIC_ONLY_SEARCH_KEYS = {
    "search_space": "the search space is the super-network's genes (nas.dynas.supernet)",
    "metrics": "set nas.dynas.metrics",
    "higher_is_better": "each metric declares its direction",
    "max_trials": "its budget is nas.dynas.num_evals",
}


@dataclass(frozen=True)
class Settings:
    supernet: Any  # the `SuperNetwork` instance searched
    metrics: tuple[Any, ...]  # the `Metric`s searched, in the configured order
    algorithm: Any  # the `AlgorithmSpec` of the evolutionary search
    tactic_name: str
    tactic: Callable[[Any], None]
    population: int
    initial_population: int
    inner_evals: int
    num_evals: int
    results_csv_path: Path
    seed: int
    distributed: bool
    racing: bool = False
    constraints: tuple[Any, ...] = ()  # `results.selection.Constraint`s on exact metrics

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def violation(self, vectors: Any) -> Any:
        """Per choice-index vector, how far it misses the constraints (the largest relative miss; 0: it meets all)."""
        import numpy as np

        if not self.constraints:
            return np.zeros(len(vectors))
        exact = self.supernet.exact_metrics(vectors)
        return np.max([c.misses(exact[c.metric]) for c in self.constraints], axis=0)

    @property
    def higher_is_better(self) -> list[bool]:
        return [m.higher_is_better for m in self.metrics]


def resolve(conf: NASConfig, supernet: Any = None) -> Settings:
    """The settings of ``conf``; a ConfigError names the first key that is wrong. ``supernet``: an instance to keep
    (with what it has loaded) if ``conf`` names the same super-network."""
    from neural_nas.evolution import algorithm_for
    from neural_nas.evolution.tactics import DEFAULT_INITIAL_POPULATION, tactic_registry
    from neural_nas.measurements.metrics import metric_registry
    from neural_nas.supernets import create_supernet, supernet_registry

    d = conf.dynas
    for key, instead in BASIC_ONLY_SEARCH_KEYS.items():
        if conf.is_set(f"nas.search.{key}"):
            raise ConfigError(f"nas.search.{key}", conf.get(f"nas.search.{key}"), "unset for Dynamic NAS", instead)
    if d.supernet is None:
        raise ConfigError("nas.dynas.supernet", None, "a registered super-network name (required for dynas)")
    if supernet is None or type(supernet) is not supernet_registry.get(d.supernet) or not supernet.serves(d):
        supernet = create_supernet(d.supernet, d)
    if d.metrics is None:
        raise ConfigError(
            "nas.dynas.metrics",
            None,
            f"1 to 3 of the metrics {supernet.name} can measure: {', '.join(supernet.metrics)}",
        )
    names = [supernet.canonical_metric(m) for m in d.metrics]
    if len(set(names)) != len(names):
        raise ConfigError("nas.dynas.metrics", d.metrics, "distinct metrics (aliases count as their metric)")
    unsupported = [m for m in names if m not in supernet.metrics]
    if unsupported:
        raise ConfigError(
            "nas.dynas.metrics",
            d.metrics,
            f"metrics {supernet.name} can measure: {', '.join(supernet.metrics)}",
            f"it cannot measure {', '.join(unsupported)}",
        )
    metrics = tuple(metric_registry.get(m) for m in names)
    if any(m.depends_on_weights for m in metrics) and not supernet.measures_itself:
        if d.dataset_path is None:  # earlier results may be enough, and a script may still set it (as the reference)
            logger.warning(
                "nas.dynas.dataset_path is not set: sub-networks cannot be validated (%s) until it is; "
                "a search that has to measure one will stop with an error",
                ", ".join(m.name for m in metrics if m.depends_on_weights),
            )
        if not d.pretrained:
            logger.warning("nas.dynas.pretrained is false: accuracy is measured on randomly initialised weights")
    search = conf.nas.search
    constraints = tuple(search_constraints(d.constraints, supernet))
    return Settings(
        supernet=supernet,
        metrics=metrics,
        algorithm=algorithm_for(search.search_algorithm, len(names)),
        tactic_name=tactic_registry.canonical(d.search_tactic),
        tactic=tactic_registry.get(d.search_tactic),
        population=d.population,
        initial_population=d.initial_population or min(d.population, DEFAULT_INITIAL_POPULATION),
        inner_evals=d.inner_evals or supernet.inner_evals,
        num_evals=d.num_evals,
        results_csv_path=Path(conf.resolved("nas.dynas.results_csv_path")),
        seed=search.seed,
        distributed=d.distributed,
        racing=d.racing,
        constraints=constraints,
    )


# Random sub-networks a search's constraints are tried on before it starts: when none meets them, the search could not
# find any either (it draws its sub-networks the same way).
FEASIBILITY_DRAWS = 20_000


def search_constraints(texts: Any, supernet: Any) -> list[Any]:
    """``nas.dynas.constraints`` parsed; each must be on an exact metric (known before measuring a sub-network)."""
    from neural_nas.results.selection import Constraint

    key = "nas.dynas.constraints"
    exact = list(supernet.exact_metric_names)
    parsed = [Constraint.parse(text, list(supernet.metrics), key) for text in texts or ()]
    for text, constraint in zip(texts or (), parsed):
        if constraint.metric not in exact:
            raise ConfigError(
                key,
                text,
                f"a constraint on an exact metric of {supernet.name} ({', '.join(exact) or 'it has none'})",
                f"{constraint.metric} is known only once a sub-network is measured: search, then pick with "
                f"--where '{text}' (neural-nas front / export)",
            )
    if parsed:
        draws = supernet.encoding.random_vectors(FEASIBILITY_DRAWS, rng=0)
        exact = supernet.exact_metrics(draws)
        misses = np.max([c.misses(exact[c.metric]) for c in parsed], axis=0)
        if not (misses == 0).any():
            closest = ", ".join(f"{c.metric} {float(np.min(exact[c.metric])):.4g}" for c in parsed)
            raise ConfigError(
                key,
                list(texts),
                f"constraints some sub-networks of {supernet.name} meet",
                f"none of {FEASIBILITY_DRAWS} drawn at random does (the smallest drawn: {closest})",
            )
    return parsed


def warn_unused_settings(conf: NASConfig, supernet: Any) -> None:
    """What the config sets that this search does not read (Basic NAS's sections, a measurement key the super-network's
    measurement ignores): a warning naming each key and why, once per agent."""
    from neural_nas.measurements.context import MEASUREMENT_KEYS

    for section in ("train", "evaluation"):
        if conf.get(section) is not None:
            logger.warning(
                "the `%s:` section has no effect in Dynamic NAS (Basic NAS's built-in trainer reads it); "
                "sub-networks are measured as nas.dynas says",
                section,
            )

    why = "it measures its sub-networks itself" if supernet.measures_itself else "its measurement does not read it"
    for key in MEASUREMENT_KEYS:
        if conf.changed(f"nas.dynas.{key}") and key not in supernet.measurement_settings:
            logger.warning("nas.dynas.%s has no effect with super-network %s (%s)", key, supernet.name, why)
