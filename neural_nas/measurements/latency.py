"""``latency``: mean and standard deviation of the time for one forward pass of a batch, after warm-up.

`timings_ms` / `time_calls` time any call (a text or translation super-network's forward passes); `measure_latency`
times an image classifier on a random image batch with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from neural_nas.config.constraints import Interval


def _sync(device: torch.device) -> None:
    # CUDA kernels run asynchronously: without a sync the timer would only measure the launch.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timings_ms(fn: Callable[[], Any], *, warmup: int, steps: int, device: str | torch.device) -> np.ndarray:
    """Milliseconds of each of ``steps`` calls of ``fn()``, after ``warmup`` untimed ones (allocator, kernel
    selection, caches), in inference mode; each timed call ends when ``device`` has finished its work."""
    Interval(int, 0, None, "left").validate("warmup", warmup)
    Interval(int, 1, None, "left").validate("steps", steps)
    device = torch.device(device)
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        _sync(device)
        for _ in range(steps):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
    return np.asarray(times) * 1000.0


def time_calls(fn: Callable[[], Any], *, warmup: int, steps: int, device: str | torch.device) -> tuple[float, float]:
    """``(mean, std)`` milliseconds of a call of ``fn()`` (`timings_ms`)."""
    times = timings_ms(fn, warmup=warmup, steps=steps, device=device)
    return float(times.mean()), float(times.std())


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
    return time_calls(lambda: model(x), warmup=warmup, steps=steps, device=device)
