"""Test helper: a small ImageFolder tree of JPEGs (``root/train/<class>/*.jpg``, ``root/val/<class>/*.jpg``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_image_folder(
    root: Path, n_classes: int = 3, n_train: int = 4, n_val: int = 2, size: int = 64, seed: int = 0
) -> Path:
    """Write ``n_train``/``n_val`` ``size``x``size`` JPEGs per class and return ``root``.

    Each class has its own base colour plus noise, so a model can tell them apart. Classes are named ``class_<i>``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    for c in range(n_classes):
        base = rng.integers(0, 256, size=3)
        for split, count in (("train", n_train), ("val", n_val)):
            folder = root / split / f"class_{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                noise = rng.integers(-40, 41, size=(size, size, 3))
                pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels, "RGB").save(folder / f"{i:04d}.jpg", quality=90)
    return root
