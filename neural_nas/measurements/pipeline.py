"""Measuring one sub-network of a torch super-network: exact table metrics, counted MACs/params, latency, accuracy.

Imported only when the library measures sub-networks itself (it imports torch)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from neural_nas._machine import cap_workers
from neural_nas.errors import ConfigError, measuring
from neural_nas.measurements.context import DATA_KEY, MeasureContext
from neural_nas.measurements.racing import Race, Stopped

logger = logging.getLogger("neural_nas")


def accuracy_evaluator(supernet: Any, ctx: MeasureContext, why: str, device: str | None = None) -> Any:
    """The `AccuracyEvaluator` of ``nas.dynas.dataset_path`` with the configured sizes, its images listed (a bad data
    set fails here); ``why`` completes the error when ``dataset_path`` is not set."""
    from neural_nas.measurements.accuracy import AccuracyEvaluator

    d = ctx.conf
    if d.dataset_path is None:
        raise ConfigError(DATA_KEY, None, f"an ImageFolder root with train/ and val/ sub-folders ({why})")
    evaluator = AccuracyEvaluator(
        d.dataset_path,
        calibration_size=d.calibration_size,
        eval_batch_size=d.eval_batch_size,
        num_workers=cap_workers(d.num_workers, "nas.dynas.num_workers"),
        test_fraction=d.test_fraction,
        image_size=supernet.image_size,
        device=device or ctx.device,
        seed=ctx.seed,
    )
    evaluator.prepare()
    return evaluator


def exact_values(supernet: Any, subnet: Mapping[str, Any]) -> dict[str, float]:
    """The super-network's exact metrics of one sub-network: measured first, for free, by every measurer."""
    vector = supernet.encoding.dict_to_vector(subnet)
    return {name: float(values[0]) for name, values in supernet.exact_metrics(vector[None, :]).items()}


def exact_and_missing(
    supernet: Any, subnet: Mapping[str, Any], metrics: Sequence[str]
) -> tuple[dict[str, float], list[str]]:
    """Every measurer's first step: the exact metrics of ``subnet`` (`exact_values`), and those of ``metrics`` they
    leave to measure on the extracted sub-network (none: the sub-network need not be extracted at all)."""
    out = exact_values(supernet, subnet)
    return out, [m for m in metrics if m not in out]


def extract(supernet: Any, subnet: Mapping[str, Any], device: Any, code: type[SubnetCode] | None = None) -> SubnetCode:
    """``supernet``'s extracted ``subnet`` on ``device``, wrapped in ``code`` (`SubnetCode` by default) so that its
    forward passes fail as this sub-network's. The extraction runs the super-network's code: a failure there is this
    sub-network's too."""
    with measuring(subnet):
        return (code or SubnetCode)(supernet.active_subnet(subnet), subnet).to(device)


def image_classification_measurer(supernet: Any, ctx: MeasureContext) -> SubnetMeasurer:
    """The default `SuperNetwork.measurer`: top-1 on ``dataset_path`` (ImageFolder), latency on image batches.

    A bad data set fails here, before the super-network is built."""
    d = ctx.conf
    evaluator = None
    if "accuracy_top1" in ctx.metrics:
        evaluator = accuracy_evaluator(supernet, ctx, "top-1 accuracy must be measured")
    return SubnetMeasurer(
        supernet,
        ctx.metrics,
        device=ctx.device,
        batch_size=d.batch_size,
        latency_warmup=d.latency_warmup,
        latency_steps=d.latency_steps,
        accuracy_evaluator=evaluator,
    )


def image_classification_standalone(supernet: Any, subnet: Mapping[str, Any], ctx: MeasureContext) -> nn.Module:
    """The default `SuperNetwork.standalone`: the extracted sub-network, its BatchNorm statistics recalibrated on
    the ``calibration_size`` training images of ``dataset_path`` (as before its accuracy is measured)."""
    module = supernet.active_subnet(subnet)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        why = "its training images recalibrate the sub-network's BatchNorm: without that its weights are unusable"
        accuracy_evaluator(supernet, ctx, why).recalibrate(module)
    return module.eval()


class SubnetMeasurer:
    """Callable: encoded sub-network dict -> ``{metric: value}`` for the requested metrics.

    Cheap exact metrics from the super-network's tables are always included (they fill the results CSV for free);
    the torch sub-network is extracted only when a requested metric needs it. The accuracy evaluator decodes its
    images once, on first use, and is reused for every sub-network.

    Extracting the sub-network and its forward passes are wrapped in `measuring`: what fails there is this
    sub-network's failure (a MeasurementError naming it); the library code around them fails the search.
    """

    def __init__(
        self,
        supernet: Any,
        metrics: Sequence[str],
        *,
        device: str,
        batch_size: int,
        latency_warmup: int,
        latency_steps: int,
        accuracy_evaluator: Any = None,
    ) -> None:
        self.supernet = supernet
        self.metrics = list(metrics)
        self.device = device
        self.batch_size, self.latency_warmup, self.latency_steps = batch_size, latency_warmup, latency_steps
        self.accuracy_evaluator = accuracy_evaluator
        self.latency_input = {"image_size": supernet.image_size}
        if "accuracy_top1" in self.metrics and accuracy_evaluator is None:
            raise ValueError("accuracy_top1 needs an accuracy evaluator")

    raced_metric = "accuracy_top1"  # the metric `__call__` can race (`neural_nas.measurements.racing`)

    def __call__(self, subnet: Mapping[str, Any], race: Race | None = None) -> dict[str, float] | Stopped:
        out, missing = exact_and_missing(self.supernet, subnet, self.metrics)
        if not missing:
            return out
        module = extract(self.supernet, subnet, self.device)
        size = self.supernet.image_size
        if "macs" in missing or "params" in missing:
            from neural_nas.measurements.counting import count_macs_params

            out["macs"], out["params"] = (float(v) for v in count_macs_params(module, (1, 3, size, size)))
        if "latency" in missing:
            from neural_nas.measurements.latency import measure_latency

            mean, std = measure_latency(
                module,
                batch_size=self.batch_size,
                image_size=size,
                device=self.device,
                warmup=self.latency_warmup,
                steps=self.latency_steps,
            )
            out["latency"] = mean
            logger.debug("latency %.3f ms (std %.3f ms) for %s", mean, std, dict(subnet))
        if "accuracy_top1" in missing:
            if race is None:
                out["accuracy_top1"] = float(self.accuracy_evaluator.evaluate(module))
                return out
            self.accuracy_evaluator.recalibrate(module)
            result = race.run(self.accuracy_evaluator.raced(module), out)
            if isinstance(result, Stopped):
                return result
            out["accuracy_top1"] = result
        return out


class SubnetCode(nn.Module):
    """An extracted sub-network whose forward pass reports its errors as that sub-network's `MeasurementError`.

    The forward pass is the super-network's code; the measurements around it (counting, timing, data) are the
    library's, and an error there is a bug that stops the search instead of being recorded as a failure.
    """

    def __init__(self, module: nn.Module, subnet: Mapping[str, Any]) -> None:
        super().__init__()
        self.module, self.subnet = module, dict(subnet)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with measuring(self.subnet):
            return self.module(*args, **kwargs)
