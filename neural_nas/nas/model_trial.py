"""One measurement of a model-based search: build the model, measure it, and turn what the measurement returned into
``{metric: float}``. Only the user's code (the model builder, the approach's `estimate`) is wrapped in `measuring`:
its failures are the architecture's; a wrong return value is a failed measurement too."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from neural_nas.errors import ConfigError, MeasurementError, measuring
from neural_nas.nas.executor import Measured
from neural_nas.results.study import finite_metrics


def measure_model(
    arch: dict[str, Any],
    model_builder: Callable[[dict], Any],
    estimate: Callable[[Any], Any],
    metric_names: Sequence[str] | None,
) -> Measured:
    """Build ``arch``, count its parameters, measure it; metrics named ``metric_names`` (None: as returned)."""
    import torch

    with measuring(arch):
        model = model_builder(arch)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            "model_builder",
            type(model).__name__,
            f"a callable returning a torch.nn.Module (it returned a {type(model).__name__} for {arch!r})",
        )
    params = sum(p.numel() for p in model.parameters())
    with measuring(arch):
        result = estimate(model)
    return Measured(metrics_of_result(result, metric_names, arch), params)


def metrics_of_result(result: Any, names: Sequence[str] | None, arch: Mapping[str, Any]) -> dict[str, float]:
    """A scalar, a list or a dict -> ``{name: float}`` in the order of ``names``. Unnamed: a dict's own keys, else
    ``metric`` for one value and ``metric_<i>`` for several. A mismatch or a non-finite value fails the measurement."""
    if isinstance(result, Mapping):
        given = list(result)
        if names is None:
            names = [str(n) for n in given]
        elif sorted(map(str, given)) != sorted(names):
            raise MeasurementError(
                arch,
                f"the evaluation returned metrics {given}, but the configured metrics (nas.search.metrics) are {names}",
            )
        values = [result[n] for n in names]
    else:
        values = list(result) if isinstance(result, (list, tuple)) else [result]
        if names is None:
            names = ["metric"] if len(values) == 1 else [f"metric_{i}" for i in range(len(values))]
        elif len(values) != len(names):
            raise MeasurementError(
                arch,
                f"the evaluation returned {len(values)} value(s) {values!r}, but "
                f"{len(names)} metrics are configured (nas.search.metrics: {names})",
            )
    return finite_metrics(arch, dict(zip(names, values)))
