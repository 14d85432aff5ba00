"""Test helpers behind the shared fixtures of ``tests/conftest.py``: a cheap user-measured super-network
(``synthetic_for_tests``), a Dynamic NAS config, and a Basic NAS search space with its model builder.

Test modules reach them through the fixtures (``synthetic``, ``dynas_config``, ``model_builder``); module-level
tables and the scripts the tests run in a subprocess (or under torchrun, with `ROOT` on ``PYTHONPATH``) import them
as ``tests.synthetic_supernet`` (always that name: a second module object would register the class twice).
"""

from pathlib import Path

import numpy as np

from neural_nas import NASConfig
from neural_nas.results.study import arch_key
from neural_nas.supernets import Encoding, SuperNetwork, supernet_registry

ROOT = Path(__file__).resolve().parents[1]  # the repository root


def genes(count):  # count genes a (0 to 3) and as many genes b (1 to 3)
    return Encoding({"a": {"count": count, "vars": [0, 1, 2, 3]}, "b": {"count": count, "vars": [1, 2, 3]}})


@supernet_registry("synthetic_for_tests")
class Synthetic(SuperNetwork):
    """A cheap user-measured space: 12 genes, three smooth conflicting metrics. Counts its measurements.

    Subclasses may set other ``encoding = genes(n)``, fewer ``metrics`` (it returns just those) or their own ``calls``.
    """

    name = "synthetic_for_tests"
    encoding = genes(6)
    metrics = ("accuracy_top1", "macs", "latency")
    measures_itself = True  # measure() below gives every metric
    calls: list = []  # the arch_key of each measurement, in order
    fail_at: int | None = None  # the measurement with this number (from 1) raises "device lost"

    def measure(self, subnet, metrics):
        type(self).calls.append(arch_key(subnet))
        if len(self.calls) == self.fail_at:
            raise RuntimeError("device lost")
        a, b = np.array(subnet["a"], float), np.array(subnet["b"], float)
        values = {
            "accuracy_top1": 50 + 2 * np.sqrt(a.sum() + b.sum()),
            "macs": 1e6 * (a @ b + 1),
            "latency": 1 + a.sum() + 0.5 * (b**2).sum(),
        }
        return {metric: values[metric] for metric in self.metrics}


class ExactMacs(Synthetic):
    """The synthetic space with its MACs exact (known before measuring, as search constraints need). Not registered:
    a test registers a subclass with its own ``name`` (and ``encoding``) through the ``register_supernet`` fixture."""

    exact_metric_names = ("macs",)

    def exact_metrics(self, vectors):
        n = self.encoding.params["a"]["count"]
        a = np.asarray(self.encoding.params["a"]["vars"])[vectors[:, :n]]
        b = np.asarray(self.encoding.params["b"]["vars"])[vectors[:, n:]]
        return {"macs": 1e6 * ((a * b).sum(axis=1) + 1)}  # what measure() gives


def config(
    supernet,
    metrics=("acc", "macs"),
    algorithm=None,
    population=10,
    num_evals=12,
    inner_evals=500,
    search=None,
    **dynas,
):
    """A Dynamic NAS config; ``dynas`` are more ``nas.dynas`` settings, ``search`` ``nas.search`` ones."""
    c = NASConfig(approach="dynas", search_algorithm=algorithm)
    c.dynas.supernet = supernet
    c.dynas.metrics = list(metrics)
    c.dynas.population = population
    c.dynas.num_evals = num_evals
    c.dynas.inner_evals = inner_evals
    for key, value in dynas.items():
        setattr(c.dynas, key, value)
    for key, value in (search or {}).items():
        setattr(c.nas.search, key, value)
    return c


SPACE = {"width": [2, 4, 8], "depth": [1, 2, 3]}  # the Basic NAS search space of the tests: 9 architectures


def build(arch):
    """The Basic NAS model builder of the tests: ``depth`` Linear(width, width) layers (parameters grow with both)."""
    import torch  # here, not at the top: the subprocess scripts that import this module do not all need torch

    return torch.nn.Sequential(*[torch.nn.Linear(arch["width"], arch["width"]) for _ in range(arch["depth"])])


def check_racing(measure, subnet, metric, beyond):
    """A measurer's racing (``measure(subnet, race=...)``): raced against a front it cannot be dominated by, it gives
    exactly its unraced metrics; against a front ``beyond`` its reach in ``metric``, it stops after the first stage
    with its other metrics (compare only deterministic metrics: no latency)."""
    from neural_nas.measurements.racing import Front, Race, Stopped, stage_sizes

    whole = measure(subnet)
    assert measure(subnet, race=Race(Front((metric,), (True,), ()), seed=0)) == whole
    stopped = measure(subnet, race=Race(Front((metric,), (True,), ((beyond,),)), seed=0))
    assert isinstance(stopped, Stopped) and stopped.raced == metric
    assert stopped.samples == stage_sizes(stopped.of)[0] < stopped.of
    assert set(stopped.metrics) == set(whole) and all(stopped.metrics[m] == whole[m] for m in whole if m != metric)
    return whole, stopped
