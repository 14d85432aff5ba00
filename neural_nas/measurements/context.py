"""What a super-network's measurer is given, and what it must provide: the contract between DyNAS and a task.

Each super-network says how its sub-networks are measured (`SuperNetwork.measurer`): image classification is the
library's default (top-1 on an ImageFolder, latency on image batches); a text or translation super-network brings its
own data, accuracy metric and latency input, and DyNAS treats every task the same way through this contract.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# The ``nas.dynas`` keys that say how sub-networks are measured. A super-network declares the ones its measurement
# reads (`SuperNetwork.measurement_settings`); one that is set but not read is a warning, never silently ignored.
MEASUREMENT_KEYS = (
    "dataset_path",
    "batch_size",
    "eval_batch_size",
    "num_workers",
    "test_fraction",
    "calibration_size",
    "mp_calibration_samples",
    "sequence_length",
    "latency_warmup",
    "latency_steps",
)
# What the default measurer (image classification: `measurements.pipeline`) reads.
IMAGE_CLASSIFICATION_SETTINGS = tuple(
    k for k in MEASUREMENT_KEYS if k not in ("mp_calibration_samples", "sequence_length")
)
# The key a data set that cannot be used is reported under, whichever task's measurer reads it.
DATA_KEY = "nas.dynas.dataset_path"


@dataclass(frozen=True)
class MeasureContext:
    """Set once per search. ``metrics``: canonical names to measure. ``conf``: the ``nas.dynas`` section (data set,
    batch sizes, latency steps, ``test_fraction``, ...). ``device``: where forward passes run. ``seed``: for any
    random draw (a subset of the data, the timing input), so a measurement is reproducible."""

    metrics: tuple[str, ...]
    conf: Any
    device: str
    seed: int


class Measurer(Protocol):
    """Callable: encoded sub-network dict -> ``{metric: value}`` for at least the context's metrics.

    Built once per search, before the first measurement (that is when a bad data set must fail: its errors are the
    search's). ``latency_input`` describes what one timed forward pass gets (recorded beside the latencies).
    A measurer that can race a metric (``nas.dynas.racing``) declares it as ``raced_metric`` and takes ``race=``
    (`neural_nas.measurements.racing.Race`): it then returns the metrics or a `Stopped`."""

    latency_input: Mapping[str, Any]

    def __call__(self, subnet: Mapping[str, Any]) -> dict[str, float]: ...


# Below this many evaluation samples, a warning: one sample more or less right moves the accuracy by over 1 %.
FEW_EVALUATION_SAMPLES = 100


def say_evaluation_size(metric: str, n: int, samples: str, detail: str = "") -> None:
    """Log what ``metric`` is measured on (``n`` ``samples``); warn when ``nas.dynas.test_fraction`` leaves too few to
    tell sub-networks apart."""
    logger = logging.getLogger("neural_nas")
    if n < FEW_EVALUATION_SAMPLES:
        logger.warning(
            "%s is measured on only %d %s%s: one more right or wrong moves it by %.2g %% "
            "(raise nas.dynas.test_fraction)",
            metric,
            n,
            samples,
            detail,
            100 / max(n, 1),
        )
    else:
        logger.info("%s on %d %s%s", metric, n, samples, detail)
