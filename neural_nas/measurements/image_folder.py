"""ImageFolder images decoded once into uint8 tensors, or streamed when they would not fit a memory budget.

Images are kept as uint8 ``[N, 3, S, S]`` (4x smaller than float) and normalised per batch on the fly, so a search pays
for JPEG decoding and resizing once instead of once per sub-network.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import functional as F

from neural_nas.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# One sample: (path, class index, augmentation seed or None for the evaluation transform).
Sample = tuple[str, int, int | None]


def class_names(*split_dirs: Path) -> list[str]:
    """Sorted union of the class sub-folders of several splits, so train and val share one label numbering."""
    return sorted({p.name for d in split_dirs for p in d.iterdir() if p.is_dir()})


def list_images(split_dir: Path, classes: list[str]) -> list[tuple[str, int]]:
    """``(path, class index)`` for every image under ``split_dir/<class>/``, in a stable (sorted) order."""
    out = []
    for idx, name in enumerate(classes):
        folder = split_dir / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMG_EXTENSIONS:
                out.append((str(path), idx))
    return out


def _load_rgb(path: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:  # what PIL raises on a bad file
        raise DataError(
            f"{path}: not a readable image ({type(err).__name__}: {err}); replace or remove it (nas.dynas.dataset_path)"
        ) from err


def _resized_crop_params(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Inception-style random crop box (scale 0.08-1, aspect 3/4-4/3), drawn from ``rng``; returns top, left, h, w."""
    area = width * height
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    # No box fitted: fall back to the largest central crop with an allowed aspect ratio.
    ratio = width / height
    if ratio < 3 / 4:
        w, h = width, round(width / (3 / 4))
    elif ratio > 4 / 3:
        h, w = height, round(height * (4 / 3))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def transform_image(img: Image.Image, image_size: int, resize: int, aug_seed: int | None) -> torch.Tensor:
    """uint8 ``[3, S, S]``: Resize+CenterCrop when ``aug_seed`` is None, else a seeded RandomResizedCrop + flip."""
    if aug_seed is None:
        img = F.center_crop(F.resize(img, resize), image_size)
    else:
        rng = np.random.default_rng(aug_seed)
        top, left, h, w = _resized_crop_params(img.width, img.height, rng)
        img = F.resized_crop(img, top, left, h, w, [image_size, image_size])
        if rng.random() < 0.5:
            img = F.hflip(img)
    return F.pil_to_tensor(img)


class ImageSet(Dataset):
    """Samples decoded and transformed on access; the augmentation of each sample is fixed by its own seed."""

    def __init__(self, samples: list[Sample], image_size: int, resize: int) -> None:
        self.samples, self.image_size, self.resize = samples, image_size, resize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label, seed = self.samples[index]
        return transform_image(_load_rgb(path), self.image_size, self.resize, seed), label


def nbytes(n_images: int, image_size: int) -> int:
    return n_images * 3 * image_size * image_size


class BatchSource:
    """Yields ``(uint8 images, labels)`` batches from an in-memory cache or, if not cached, a streaming DataLoader."""

    def __init__(self, dataset: ImageSet, batch_size: int, num_workers: int, cache: bool, device: torch.device) -> None:
        self.batch_size, self.n_images, self.dataset = batch_size, len(dataset), dataset
        self.num_workers, self.pin_memory = num_workers, device.type == "cuda"
        self.images: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        # Persistent workers: a streamed source is read once per sub-network; restarting workers each time is waste.
        self.loader = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=self.pin_memory,
        )
        if cache:
            self.images = torch.empty((len(dataset), 3, dataset.image_size, dataset.image_size), dtype=torch.uint8)
            self.labels = torch.empty(len(dataset), dtype=torch.int64)
            start = 0
            for images, labels in self.loader:
                self.images[start : start + len(labels)] = images
                self.labels[start : start + len(labels)] = labels
                start += len(labels)
            # On a GPU the cache lives there, so batches need no host-to-device copy.
            self.images, self.labels = self.images.to(device), self.labels.to(device)
            self.loader = None

    def __len__(self) -> int:
        return self.n_images

    @property
    def cached(self) -> bool:
        return self.images is not None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.images is None:
            yield from self.loader
            return
        for start in range(0, len(self.labels), self.batch_size):
            yield self.images[start : start + self.batch_size], self.labels[start : start + self.batch_size]

    def subset(self, indices: Sequence[int]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of the images at ``indices`` (in that order): from the cache, or read again (racing's stages)."""
        if self.images is None:
            yield from DataLoader(
                Subset(self.dataset, list(indices)),
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
            )
            return
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.images.device)
        for start in range(0, len(index), self.batch_size):
            rows = index[start : start + self.batch_size]
            yield self.images[rows], self.labels[rows]


class Normalizer:
    """uint8 batch -> float, ImageNet mean/std, on the target device (in channels-last layout if asked)."""

    def __init__(self, device: torch.device, channels_last: bool = False) -> None:
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return x.float().div_(255).sub_(self.mean).div_(self.std)
