"""The Pareto front: one pure function shared by every approach."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sign_adjust(points: Sequence[Sequence[float]], higher_is_better: Sequence[bool] | None = None) -> np.ndarray:
    """Points as an (n, m) float array in which every metric is higher-is-better."""
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if higher_is_better is not None:
        if len(higher_is_better) != arr.shape[1]:
            raise ValueError(f"higher_is_better has {len(higher_is_better)} entries for {arr.shape[1]} metrics")
        arr = arr * np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    return arr


def pareto_front(points: Sequence[Sequence[float]], higher_is_better: Sequence[bool] | None = None) -> list[int]:
    """Indices of the non-dominated points, in their original order.

    A point is dropped if another is at least as good in every metric and strictly better in one; of identical points
    only the first is kept. ``higher_is_better`` defaults to all True.
    """
    if len(points) == 0:  # before sign_adjust: an empty list has no metric columns to check the directions against
        return []
    arr = sign_adjust(points, higher_is_better)
    if arr.size == 0:
        return []
    # dominated[i, j]: point j dominates point i.
    ge = (arr[None, :, :] >= arr[:, None, :]).all(axis=2)
    gt = (arr[None, :, :] > arr[:, None, :]).any(axis=2)
    dominated = (ge & gt).any(axis=1)
    # A later copy of an identical point is a duplicate.
    same = (arr[None, :, :] == arr[:, None, :]).all(axis=2)
    duplicate = np.tril(same, k=-1).any(axis=1)
    return [i for i in range(len(arr)) if not dominated[i] and not duplicate[i]]
