"""Randomness is an object owned by whatever samples; the global random states are never touched."""

from __future__ import annotations

import numbers

import numpy as np


def as_generator(seed: None | int | np.random.Generator) -> np.random.Generator:
    """``None`` -> fresh entropy, ``int`` -> seeded generator, ``Generator`` -> itself."""
    if seed is None or isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    raise TypeError(f"seed must be None, an int or a numpy.random.Generator; got {seed!r}")
