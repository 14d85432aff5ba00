"""``accuracy_top1``: recalibrate a sub-network's BatchNorm statistics on training images, then top-1 on validation.

The images are decoded and transformed once per evaluator (i.e. once per search), kept as uint8 tensors and normalised
per batch, so the time per sub-network goes to forward passes. When a split would exceed ``cache_budget_mb`` it is
streamed through a DataLoader on every call instead.

Calibration images: a seeded random subset of ``train/`` (``calibration_size`` images). Like the reference, they get
training-style augmentation (RandomResizedCrop + horizontal flip), but drawn once from the seed and then fixed: every
sub-network is calibrated on exactly the same pixels, which makes accuracies comparable and the cache possible.
``calib_augment=False`` uses the evaluation transform instead. Validation: Resize ``resize`` / CenterCrop
``image_size`` / ImageNet mean-std on ``val/`` (or a fixed seeded ``test_fraction`` of it).

On CPU the forward passes run in channels-last layout by default, in which PyTorch's CPU convolutions run MobileNetV3
faster (the evaluator's speed as a whole: benchmarks/RESULTS.md, 'Measurement speed'); the model is converted for the
measurement and back to the default layout afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neural_nas._rng import as_generator
from neural_nas.config.constraints import Interval
from neural_nas.errors import ConfigError
from neural_nas.measurements.context import DATA_KEY, FEW_EVALUATION_SAMPLES, say_evaluation_size
from neural_nas.measurements.image_folder import BatchSource, ImageSet, Normalizer, class_names, list_images, nbytes
from neural_nas.measurements.racing import Sampled

logger = logging.getLogger("neural_nas")

_LAYOUT = "a folder with train/ and val/ sub-folders in ImageFolder layout (<split>/<class>/<image>)"


def seeded_subset(n: int, fraction: float, seed: int | np.random.Generator) -> np.ndarray:
    """Sorted indices of a fixed random ``fraction`` of ``n`` examples (``test_fraction``; at least one; all of them
    at 1.0), drawn from ``seed`` only."""
    if fraction >= 1:
        return np.arange(n)
    size = max(1, round(fraction * n))
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Set every BatchNorm's running statistics to the plain average over ``batches``; leaves the model in eval mode.

    Only the BatchNorm layers run in train mode (dropout and the like stay deterministic); ``momentum=None`` makes
    PyTorch keep a cumulative average, so each batch counts equally whatever its order.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        model.eval()
        return
    momenta = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        with torch.no_grad():
            for i, x in enumerate(batches):
                # A lone trailing image cannot give batch statistics after global pooling; skip it.
                if len(x) == 1 and i > 0:
                    continue
                model(x)
    finally:
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        model.eval()


def top1_outcomes(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> np.ndarray:
    """Per image, in order: 1 where ``model``'s (put in eval mode) highest logit is the label, else 0."""
    model.eval()
    right = []
    with torch.no_grad():
        for x, y in batches:
            pred = model(x).argmax(dim=1)
            right.append((pred == y.to(pred.device)).cpu().numpy())
    return np.concatenate(right).astype(np.int64) if right else np.empty(0, dtype=np.int64)


def percent_right(outcomes: np.ndarray) -> float:
    """Top-1 in percent from per-image outcomes (`top1_outcomes`)."""
    if len(outcomes) == 0:
        raise ValueError("no validation images to compute top-1 on")
    return 100.0 * int(outcomes.sum()) / len(outcomes)


def top1_accuracy(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Top-1 accuracy in percent of ``model`` (put in eval mode) over ``(inputs, labels)`` batches."""
    return percent_right(top1_outcomes(model, batches))


def raced_top1(outcomes: Callable[[np.ndarray], np.ndarray], n: int) -> Sampled:
    """Top-1 in percent as a raced metric (`neural_nas.measurements.racing`) over ``n`` images."""
    return Sampled("accuracy_top1", n, outcomes, whole=percent_right, scale=100.0)


class AccuracyEvaluator:
    """Measures ``accuracy_top1`` of sub-networks on one ImageFolder data set.

    Construction only checks the numbers; the folders are checked, listed and decoded by `prepare()`, which the first
    `evaluate()` calls if the caller has not. Call `prepare()` at the start of a search to fail early on a bad path.

    ``seed`` (int or ``numpy.random.Generator``) fixes the calibration subset, its augmentation and the
    ``test_fraction`` subset; the global random states are never used.

    ``cache_budget_mb`` caps the uint8 image cache (``3 * image_size**2`` bytes per image: 2,000 calibration images at
    224 take 301 MB). The calibration subset is cached first; a split that does not fit is streamed on every call.
    ``eval_batch_size`` is used for calibration batches too. On a GPU the cache is kept on the device.
    """

    def __init__(
        self,
        dataset_path: str | Path,
        *,
        calibration_size: int = 2000,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        test_fraction: float = 1.0,
        image_size: int = 224,
        resize: int = 256,
        device: str | torch.device = "cpu",
        seed: int | np.random.Generator | None = 42,
        cache_budget_mb: float = 512,
        calib_augment: bool = True,
        channels_last: bool | None = None,
    ) -> None:
        for key, value, allowed in (
            ("nas.dynas.calibration_size", calibration_size, Interval(int, 1, None, "left")),
            ("nas.dynas.eval_batch_size", eval_batch_size, Interval(int, 1, None, "left")),
            ("nas.dynas.num_workers", num_workers, Interval(int, 0, None, "left")),
            ("image_size", image_size, Interval(int, 1, None, "left")),
            ("resize", resize, Interval(int, 1, None, "left")),
            ("nas.dynas.test_fraction", test_fraction, Interval(float, 0, 1, "right")),
            ("cache_budget_mb", cache_budget_mb, Interval(float, 0, None, "left")),
        ):
            allowed.validate(key, value)
        self.dataset_path = Path(dataset_path)
        self.calibration_size, self.eval_batch_size, self.num_workers = calibration_size, eval_batch_size, num_workers
        self.test_fraction, self.image_size, self.resize = float(test_fraction), image_size, resize
        self.device = torch.device(device)
        # Two child seeds drawn now, so preparing again (after `close()`) picks the same images.
        self._seeds = [int(s) for s in as_generator(seed).integers(0, 2**63, size=2)]
        self.cache_budget_mb, self.calib_augment = cache_budget_mb, calib_augment
        self.last_timings: dict[str, float] = {}
        self._calib: BatchSource | None = None
        self._val: BatchSource | None = None
        # None: channels-last on CPU only, where oneDNN's depthwise convolutions gain most from it.
        self.channels_last = self.device.type == "cpu" if channels_last is None else bool(channels_last)
        self._normalize = Normalizer(self.device, self.channels_last)

    def _split(self, name: str) -> Path:
        path = self.dataset_path / name
        if not path.is_dir():
            raise ConfigError(DATA_KEY, str(self.dataset_path), _LAYOUT, hint=f"{path} is not a folder")
        return path

    def prepare(self) -> None:
        """List, subset, decode and (within the budget) cache the images; does nothing the second time."""
        if self._val is not None:
            return
        start = time.perf_counter()
        train_dir, val_dir = self._split("train"), self._split("val")
        classes = class_names(train_dir, val_dir)
        train, val = list_images(train_dir, classes), list_images(val_dir, classes)
        for name, items in (("train", train), ("val", val)):
            if not items:
                raise ConfigError(
                    DATA_KEY,
                    str(self.dataset_path),
                    _LAYOUT,
                    hint=f"no images found under {self.dataset_path / name}/<class>/",
                )
        # Independent streams: the val subset does not change with calibration_size.
        calib_rng, val_rng = (np.random.default_rng(s) for s in self._seeds)
        picked = np.sort(calib_rng.choice(len(train), size=min(self.calibration_size, len(train)), replace=False))
        aug_seeds = calib_rng.integers(0, 2**63, size=len(picked)) if self.calib_augment else [None] * len(picked)
        calib = [(*train[i], None if s is None else int(s)) for i, s in zip(picked, aug_seeds)]
        val = [val[i] for i in seeded_subset(len(val), self.test_fraction, val_rng)]
        val_samples = [(path, label, None) for path, label in val]

        budget = self.cache_budget_mb * 2**20
        calib_bytes, val_bytes = nbytes(len(calib), self.image_size), nbytes(len(val_samples), self.image_size)
        cache_calib = calib_bytes <= budget
        cache_val = val_bytes <= budget - (calib_bytes if cache_calib else 0)
        self._calib = BatchSource(
            ImageSet(calib, self.image_size, self.resize),
            self.eval_batch_size,
            self.num_workers,
            cache_calib,
            self.device,
        )
        self._val = BatchSource(
            ImageSet(val_samples, self.image_size, self.resize),
            self.eval_batch_size,
            self.num_workers,
            cache_val,
            self.device,
        )
        self.last_timings = {"prepare_s": time.perf_counter() - start}
        logger.info(
            "accuracy data: %d calibration images (%s, %.0f MB), %d validation images (%s, %.0f MB), "
            "%d classes, prepared in %.1f s",
            len(calib),
            "cached" if cache_calib else "streamed",
            calib_bytes / 2**20,
            len(val_samples),
            "cached" if cache_val else "streamed",
            val_bytes / 2**20,
            len(classes),
            self.last_timings["prepare_s"],
        )
        if len(val_samples) < FEW_EVALUATION_SAMPLES:
            say_evaluation_size("top-1 accuracy", len(val_samples), "validation images")

    @property
    def n_val(self) -> int:
        """Number of validation images used (after ``test_fraction``); prepares the data if needed."""
        self.prepare()
        return len(self._val)

    @contextmanager
    def _placed(self, model: nn.Module) -> Iterator[None]:
        """``model`` on the device, in channels-last layout for the duration if enabled."""
        self.prepare()
        model.to(self.device)
        if not self.channels_last:
            yield
            return
        model.to(memory_format=torch.channels_last)
        try:
            yield
        finally:
            model.to(memory_format=torch.contiguous_format)

    def recalibrate(self, model: nn.Module) -> None:
        """Recalibrate ``model``'s BatchNorm statistics in place on the calibration images."""
        with self._placed(model):
            recalibrate_bn(model, (self._normalize(x) for x, _ in self._calib))

    def calibration_images(self, limit: int) -> Iterator[torch.Tensor]:
        """Normalised batches of the first ``limit`` calibration images (e.g. to calibrate a quantized model)."""
        self.prepare()
        left = limit
        for x, _ in self._calib:
            if left <= 0:
                return
            yield self._normalize(x[:left])
            left -= len(x)

    @property
    def n_calibration(self) -> int:
        """Number of calibration images (``calibration_size``, or fewer if ``train/`` has fewer)."""
        self.prepare()
        return len(self._calib)

    def validate(self, model: nn.Module) -> float:
        """Top-1 in percent on the validation images, without touching BatchNorm statistics."""
        with self._placed(model):
            return top1_accuracy(model, ((self._normalize(x), y) for x, y in self._val))

    def validation_outcomes(self, model: nn.Module, indices: np.ndarray) -> np.ndarray:
        """Per validation image of ``indices`` (racing's stages): 1 where top-1 is right, without touching BatchNorm."""
        with self._placed(model):
            return top1_outcomes(model, ((self._normalize(x), y) for x, y in self._val.subset(indices)))

    def raced(self, model: nn.Module) -> Sampled:
        """Top-1 of ``model`` (recalibrated already) on the validation images, to be raced."""
        return raced_top1(lambda indices: self.validation_outcomes(model, indices), self.n_val)

    def evaluate(self, model: nn.Module) -> float:
        """Recalibrate ``model``'s BatchNorm in place, then return its top-1 accuracy in percent (0-100)."""
        with self._placed(model):
            start = time.perf_counter()
            recalibrate_bn(model, (self._normalize(x) for x, _ in self._calib))
            middle = time.perf_counter()
            accuracy = top1_accuracy(model, ((self._normalize(x), y) for x, y in self._val))
        self.last_timings.update(recalibrate_s=middle - start, validate_s=time.perf_counter() - middle)
        logger.debug(
            "accuracy %.2f%% (recalibration %.2f s, validation %.2f s)",
            accuracy,
            self.last_timings["recalibrate_s"],
            self.last_timings["validate_s"],
        )
        return accuracy

    def close(self) -> None:
        """Free the cached images and loader workers; a later `evaluate()` prepares again."""
        self._calib = self._val = None
