"""Datasets named in a dataloader's `dataset:` section: `dummy`, `ImageFolder`, `digits`, and any a user registers.

A dataset factory takes its settings as keyword arguments and returns a ``torch.utils.data.Dataset`` whose items are
``(input, label)`` pairs (or bare inputs for an unlabelled dummy set). Register your own with::

    @dataset_registry("mine")
    def mine(root: str, size: int = 32) -> Dataset: ...
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from neural_nas._registry import Registry
from neural_nas.errors import ConfigError
from neural_nas.training._params import boolean, choice, declare, int_list, integer, number, text

dataset_registry: Registry = Registry("dataset", "dataloader.dataset")

_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "int32": torch.int32,
    "int64": torch.int64,
}


class DummyDataset(Dataset):
    """``shape[0]`` random samples of shape ``shape[1:]``, uniform in [low, high].

    Each sample is drawn from its own generator seeded by (seed, index): nothing is held in memory, and an item is the
    same whatever order it is read in. Labels are 0 (as in the reference) or, with ``num_classes``, uniform classes.
    """

    def __init__(
        self,
        shape: list[int],
        low: float,
        high: float,
        dtype: torch.dtype,
        label: bool,
        num_classes: int | None,
        seed: int,
    ) -> None:
        self.length, self.sample_shape = shape[0], tuple(shape[1:])
        self.low, self.high, self.dtype = low, high, dtype
        self.label, self.num_classes, self.seed = label, num_classes, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.length:
            raise IndexError(index)
        state = np.random.SeedSequence([self.seed, index]).generate_state(1, np.uint64)[0]
        generator = torch.Generator().manual_seed(int(state))
        sample = (torch.rand(self.sample_shape, generator=generator) * (self.high - self.low) + self.low).to(self.dtype)
        if not self.label:
            return sample
        if self.num_classes is None:
            return sample, 0
        return sample, int(torch.randint(self.num_classes, (), generator=generator))


@dataset_registry("dummy")
@declare(
    shape=int_list(1),
    low=number(default=0.0),
    high=number(default=1.0),
    dtype=choice(_DTYPES, default="float32"),
    label=boolean(default=True),
    num_classes=integer(1, default=None),
    seed=integer(0, default=0),
)
def dummy(
    shape: list[int],
    low: float = 0.0,
    high: float = 1.0,
    dtype: str = "float32",
    label: bool = True,
    num_classes: int | None = None,
    seed: int = 0,
) -> Dataset:
    if high < low:
        raise ConfigError("high", high, f"a number >= low ({low})")
    return DummyDataset(shape, low, high, _DTYPES[dtype], label, num_classes, seed)


@dataset_registry("ImageFolder", aliases=("image_folder",))
@declare(root=text(what="a directory path"), image_size=integer(1, default=None))
def image_folder(root: str, image_size: int | None = None) -> Dataset:
    """torchvision's ImageFolder (one sub-folder per class); resized and centre-cropped to ``image_size`` if given."""
    from torchvision import datasets, transforms

    root = os.path.expanduser(root)
    if not os.path.isdir(root):
        raise ConfigError("root", root, "an existing directory holding one sub-folder of images per class")
    steps = [transforms.Resize(image_size), transforms.CenterCrop(image_size)] if image_size else []
    try:
        return datasets.ImageFolder(root, transform=transforms.Compose([*steps, transforms.ToTensor()]))
    except FileNotFoundError as err:
        raise ConfigError("root", root, "a directory holding one sub-folder of images per class", str(err)) from err


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    # Loaded once per process: train and test loaders of one search share it (the tensors are never written to).
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return images, torch.tensor(data.target, dtype=torch.long)


@dataset_registry("digits")
@declare(
    split=choice(("train", "test", "all"), default="train"),
    test_size=number(0.0, 1.0, low_open=True, high_open=True, default=0.25),
    seed=integer(0, default=0),
)
def digits(split: str = "train", test_size: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes) as (1, 8, 8) floats in [0, 1].

    ``train`` and ``test`` are the two sides of one stratified split fixed by ``seed`` and ``test_size``: they never
    overlap. The result is a ``Subset`` whose ``indices`` say which of the 1797 images it holds.
    """
    from sklearn.model_selection import train_test_split

    images, target = _digits_arrays()
    full = TensorDataset(images, target)
    if split == "all":
        return Subset(full, list(range(len(full))))
    train_idx, test_idx = train_test_split(
        np.arange(len(full)), test_size=test_size, random_state=seed, stratify=target.numpy()
    )
    return Subset(full, sorted(int(i) for i in (train_idx if split == "train" else test_idx)))
