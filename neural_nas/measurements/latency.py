"""``latency``: mean and standard deviation of the time for one forward pass of a batch, after warm-up."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from neural_nas.config.constraints import Interval


def _sync(device: torch.device) -> None:
    # CUDA kernels run asynchronously: without a sync the timer would only measure the launch.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(
    model: nn.Module,
    *,
    batch_size: int,
    image_size: int = 224,
    device: str | torch.device = "cpu",
    warmup: int = 10,
    steps: int = 50,
    seed: int = 0,
) -> tuple[float, float]:
    """Milliseconds per forward pass of a ``[batch_size, 3, image_size, image_size]`` batch: ``(mean, std)``.

    The model is moved to ``device`` and put in eval mode; ``warmup`` untimed passes come first (allocator, kernel
    selection, caches), then ``steps`` timed ones. The input is fixed random data from a private ``torch.Generator``.
    """
    for key, value, low in (
        ("nas.dynas.batch_size", batch_size, 1),
        ("image_size", image_size, 1),
        ("warmup", warmup, 0),
        ("steps", steps, 1),
    ):
        Interval(int, low, None, "left").validate(key, value)
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, image_size, image_size, generator=generator).to(device)
    model.to(device).eval()
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        _sync(device)
        for _ in range(steps):
            start = time.perf_counter()
            model(x)
            _sync(device)
            times.append(time.perf_counter() - start)
    times_ms = np.asarray(times) * 1000.0
    return float(times_ms.mean()), float(times_ms.std())
