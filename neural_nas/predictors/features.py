"""Feature maps from encoded sub-networks (rows of choice indices) to what a predictor learns from.

OFA-style super-networks have elastic depth: stage ``s`` runs only its first ``depth[s]`` blocks, so the per-block genes
(kernel size, expansion) of the other blocks do not change the network. Features here zero them out, which removes
noise a predictor would otherwise have to learn to ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np


class Genes(Protocol):
    """What the feature maps read of a super-network's `Encoding`: ``{param: {'count': n, 'vars': [choices]}}`` in
    gene order, and the number of genes. A protocol, not the class: the super-networks use these maps, so the
    predictors must not import the super-networks."""

    @property
    def params(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def n_genes(self) -> int: ...


def gene_slice(encoding: Genes, param: str) -> slice:
    """Columns of ``param`` in an index vector."""
    start = 0
    for name, spec in encoding.params.items():
        if name == param:
            return slice(start, start + spec["count"])
        start += spec["count"]
    raise KeyError(f"encoding has no parameter {param!r}; it has {list(encoding.params)}")


def _onehot(indices: np.ndarray, n_choices: int) -> np.ndarray:
    """(rows, genes) indices -> (rows, genes * n_choices) one-hot, without a Python loop over rows."""
    hot = indices[:, :, None] == np.arange(n_choices)[None, None, :]
    return hot.reshape(len(indices), -1).astype(np.float32)


def active_blocks(
    encoding: Genes, vectors: np.ndarray, depth_param: str, block_params: tuple[str, ...], blocks_per_stage: int
) -> np.ndarray:
    """Boolean (rows, blocks): block ``b`` of stage ``s`` is active when its position in the stage is below depth[s]."""
    if vectors.ndim != 2 or vectors.shape[1] != encoding.n_genes:
        raise ValueError(f"expected vectors of {encoding.n_genes} genes; got shape {vectors.shape}")
    spec = encoding.params.get(depth_param)
    if spec is None:
        raise KeyError(f"encoding has no parameter {depth_param!r}; it has {list(encoding.params)}")
    n_blocks = spec["count"] * blocks_per_stage
    for name in block_params:
        if name not in encoding.params or encoding.params[name]["count"] != n_blocks:
            raise ValueError(
                f"block parameter {name!r} must have {spec['count']} stages x {blocks_per_stage} = "
                f"{n_blocks} genes in {encoding!r}"
            )
    depth = np.asarray(spec["vars"])[vectors[:, gene_slice(encoding, depth_param)]]
    position = np.arange(n_blocks) % blocks_per_stage
    return position[None, :] < np.repeat(depth, blocks_per_stage, axis=1)


def active_block_onehot(
    encoding: Genes,
    vectors: np.ndarray,
    *,
    depth_param: str = "d",
    block_params: tuple[str, ...] = ("ks", "e"),
    blocks_per_stage: int = 4,
) -> np.ndarray:
    """One-hot of the block parameters with the genes of inactive blocks zeroed, then the one-hot of the depth genes.

    Same width as ``encoding.onehot`` when the encoding holds only these parameters (135 for OFA MobileNetV3).
    A 1-D vector gives a 1-D row.
    """
    vectors = np.asarray(vectors, dtype=np.int64)
    rows = np.atleast_2d(vectors)
    active = active_blocks(encoding, rows, depth_param, block_params, blocks_per_stage)
    parts = []
    for name in block_params:
        n_choices = len(encoding.params[name]["vars"])
        parts.append(_onehot(rows[:, gene_slice(encoding, name)], n_choices) * np.repeat(active, n_choices, axis=1))
    parts.append(_onehot(rows[:, gene_slice(encoding, depth_param)], len(encoding.params[depth_param]["vars"])))
    out = np.concatenate(parts, axis=1)
    return out[0] if vectors.ndim == 1 else out


def active_block_features(
    encoding: Genes,
    vectors: np.ndarray,
    *,
    depth_param: str = "d",
    block_params: tuple[str, ...] = ("ks", "e"),
    blocks_per_stage: int = 4,
    value_weight: float = 3.0,
) -> np.ndarray:
    """`active_block_onehot`, then the chosen *values* of the same genes (inactive blocks 0) over the largest choice.

    The values carry the monotone trend that one-hot columns must learn one by one (a larger kernel, expansion or
    depth gives a more accurate and more costly network), so far fewer samples are needed. ``value_weight`` sets their
    share of the distance an RBF kernel sees; the default (chosen on the shared OFA MobileNetV3 data) weighs
    them above the one-hot columns, so that the trend dominates the distance while the one-hot columns still separate
    individual choices. The features' effect on predictor quality: benchmarks/RESULTS.md, 'Metric predictors on the
    shared OFA MobileNetV3 data'.
    The choices of these parameters must be numbers. Width for OFA MobileNetV3: 135 + 45 = 180.
    """
    vectors = np.asarray(vectors, dtype=np.int64)
    rows = np.atleast_2d(vectors)
    active = active_blocks(encoding, rows, depth_param, block_params, blocks_per_stage)
    parts = [
        active_block_onehot(
            encoding, rows, depth_param=depth_param, block_params=block_params, blocks_per_stage=blocks_per_stage
        )
    ]
    for name in (*block_params, depth_param):
        choices = np.asarray(encoding.params[name]["vars"], dtype=np.float32)
        values = choices[rows[:, gene_slice(encoding, name)]] / np.abs(choices).max()
        parts.append(value_weight * (values if name == depth_param else values * active))
    out = np.concatenate(parts, axis=1)
    return out[0] if vectors.ndim == 1 else out
