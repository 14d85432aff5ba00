"""Measuring sub-networks under a quantization policy: extract, recalibrate BatchNorm, quantize, then measure.

For each sub-network that needs a model (top-1 or latency): the float sub-network is extracted, its BatchNorm
statistics are recalibrated on the ``calibration_size`` training images (as for ``ofa_resnet50``), it is quantized
per its policy (`neural_nas.measurements.quantization`) with the first ``mp_calibration_samples`` of those images
setting the int8 activation ranges, and the int8 model's top-1 on ``val/`` and latency are measured, on the CPU
(PyTorch's int8 kernels are CPU kernels). Exact metrics (parameters, model size) come from the super-network's tables.

A search without top-1 needs no data set: the int8 model whose latency is measured is then calibrated on fixed random
images (latency does not depend on the calibration ranges).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import torch

from neural_nas.errors import ConfigError, measuring
from neural_nas.measurements.context import MeasureContext
from neural_nas.measurements.pipeline import SubnetCode, accuracy_evaluator, exact_and_missing
from neural_nas.measurements.racing import Race, Stopped

logger = logging.getLogger("neural_nas")

# Random images that calibrate a model measured for latency only (no data set): enough to set every range.
RANDOM_CALIBRATION = 8


def quantized_measurer(supernet: Any, ctx: MeasureContext) -> QuantizedSubnetMeasurer:
    """The measurer of a quantization super-network; a bad data set or a missing int8 back end fails here."""
    from neural_nas.measurements.quantization import select_engine

    # Before anything is built or measured; a search on exact metrics alone (params, model size) needs no int8 engine.
    engine = select_engine() if {"accuracy_top1", "latency"} & set(ctx.metrics) else "none"
    d = ctx.conf
    if ctx.device != "cpu":
        logger.warning("quantized sub-networks are measured on the CPU (int8 kernels), not on %s", ctx.device)
    evaluator = None
    if "accuracy_top1" in ctx.metrics:
        if d.mp_calibration_samples > d.calibration_size:
            raise ConfigError(
                "nas.dynas.mp_calibration_samples",
                d.mp_calibration_samples,
                f"at most nas.dynas.calibration_size ({d.calibration_size})",
                "the quantization calibration images are the first of the BatchNorm calibration images",
            )
        why = "train/ calibrates BatchNorm and the quantization, val/ gives top-1"
        evaluator = accuracy_evaluator(supernet, ctx, why, device="cpu")  # int8 kernels are CPU kernels
        if evaluator.n_calibration < d.mp_calibration_samples:
            logger.warning(
                "only %d training images calibrate the quantization (nas.dynas.mp_calibration_samples is %d)",
                evaluator.n_calibration,
                d.mp_calibration_samples,
            )
    return QuantizedSubnetMeasurer(
        supernet,
        ctx.metrics,
        engine=engine,
        calibration_samples=d.mp_calibration_samples,
        batch_size=d.batch_size,
        latency_warmup=d.latency_warmup,
        latency_steps=d.latency_steps,
        accuracy_evaluator=evaluator,
        seed=ctx.seed,
    )


class QuantizedSubnetMeasurer:
    """Callable: encoded sub-network dict -> ``{metric: value}``, measured on its int8 model.

    ``last_timings`` holds the seconds of each step of the last sub-network measured (extract, recalibrate, quantize,
    validate, latency).
    """

    def __init__(
        self,
        supernet: Any,
        metrics: tuple[str, ...] | list[str],
        *,
        engine: str,
        calibration_samples: int,
        batch_size: int,
        latency_warmup: int,
        latency_steps: int,
        accuracy_evaluator: Any = None,
        seed: int = 0,
    ) -> None:
        self.supernet, self.metrics, self.engine = supernet, list(metrics), engine
        self.calibration_samples = calibration_samples
        self.batch_size, self.latency_warmup, self.latency_steps = batch_size, latency_warmup, latency_steps
        self.accuracy_evaluator = accuracy_evaluator
        self.seed = seed
        # int8 kernels are CPU kernels: the latency is the CPU's whatever nas.dynas.device says.
        self.latency_input = {"image_size": supernet.image_size, "quantized_engine": engine, "device": "cpu"}
        self.last_timings: dict[str, float] = {}
        if "accuracy_top1" in self.metrics and accuracy_evaluator is None:
            raise ValueError("accuracy_top1 needs an accuracy evaluator")

    raced_metric = "accuracy_top1"  # the int8 model's top-1 can be raced (`neural_nas.measurements.racing`)

    def __call__(self, subnet: Mapping[str, Any], race: Race | None = None) -> dict[str, float] | Stopped:
        subnet = self.supernet.parse_record(subnet)  # a policy gene outside the table fails before any work
        out, missing = exact_and_missing(self.supernet, subnet, self.metrics)
        if not missing:
            return out
        from neural_nas.measurements.quantization import quantized_engine

        with quantized_engine(self.engine):
            model = self.quantized_model(subnet)
            if "latency" in missing:
                from neural_nas.measurements.latency import measure_latency

                start = time.perf_counter()
                mean, std = measure_latency(
                    model,
                    batch_size=self.batch_size,
                    image_size=self.supernet.image_size,
                    warmup=self.latency_warmup,
                    steps=self.latency_steps,
                )
                out["latency"] = mean
                self.last_timings["latency_s"] = time.perf_counter() - start
                logger.debug("int8 latency %.3f ms (std %.3f ms) for %s", mean, std, subnet)
            if "accuracy_top1" in missing:
                start = time.perf_counter()
                if race is None:
                    result: float | Stopped = float(self.accuracy_evaluator.validate(model))
                else:
                    result = race.run(self.accuracy_evaluator.raced(model), out)
                self.last_timings["validate_s"] = time.perf_counter() - start
                if isinstance(result, Stopped):
                    return result
                out["accuracy_top1"] = result
        return out

    def quantized_model(self, subnet: Mapping[str, Any]) -> SubnetCode:
        """The int8 model of ``subnet`` (BatchNorm recalibrated first when top-1 is measured). Call it under
        `quantization.quantized_engine`."""
        timings = self.last_timings = {}
        start = time.perf_counter()
        with measuring(subnet):
            module = self.supernet.active_subnet(subnet).to("cpu")
        timings["extract_s"] = time.perf_counter() - start
        evaluator = self.accuracy_evaluator
        if evaluator is not None:
            start = time.perf_counter()
            evaluator.recalibrate(SubnetCode(module, subnet))
            timings["recalibrate_s"] = time.perf_counter() - start
            calibration = list(evaluator.calibration_images(self.calibration_samples))  # data read here, not below
        else:
            # Latency alone does not depend on the activation ranges: a few fixed random images set them.
            size = self.supernet.image_size
            generator = torch.Generator().manual_seed(self.seed)
            calibration = [
                torch.randn(min(self.calibration_samples, RANDOM_CALIBRATION), 3, size, size, generator=generator)
            ]
        start = time.perf_counter()
        # Only tracing and calibrating run the sub-network's own code: a failure there is this sub-network's.
        model = self.supernet.quantize(module, subnet, calibration, guard=lambda: measuring(subnet))
        timings["quantize_s"] = time.perf_counter() - start
        logger.debug("quantized %s in %.2f s", dict(subnet), timings["quantize_s"])
        return SubnetCode(model, subnet)
