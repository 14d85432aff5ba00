"""The sizes of an elastic BERT and the exact MACs and parameter counts of its sub-networks, in closed form.

The convention is the reference's (DyNAS-T profiles one padded sequence of the evaluation length with torchprofile):

MACs count every matrix product (a linear layer costs ``in * out`` per position it runs on; the attention scores and
the attention-weighted values cost ``seq_len * head_size`` per position and head each), one per element of every
LayerNorm output, and one per position for the scaling of the attention mask. Softmax, GELU, additions, divisions
and embedding lookups cost nothing. The pooler and the classifier run on the first position only.

Parameters count the embedding tables (word, position, token type), the weights and biases of every linear layer of
the active layers, and the pooler; LayerNorms and the classifier are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BertShape:
    """The super-network's largest widths; a sub-network keeps the first ``num_layers`` layers, the first heads of
    each layer and the first feed-forward units."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    num_labels: int
    layer_norm_eps: float = 1e-12

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")


# BERT-base (uncased): what the reference's checkpoint holds.
BERT_BASE = BertShape(
    vocab_size=30522,
    hidden_size=768,
    num_layers=12,
    num_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    type_vocab_size=2,
    num_labels=2,
)


def bert_costs(
    shape: BertShape, seq_len: int, num_layers: np.ndarray, heads: np.ndarray, ffn: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(macs, params)`` (int64, one per row) of sub-networks on one sequence of ``seq_len`` positions.

    ``num_layers``: (N,) active layers; ``heads`` and ``ffn``: (N, shape.num_layers) heads and feed-forward units of
    every layer (values of inactive layers are ignored)."""
    num_layers = np.asarray(num_layers, dtype=np.int64)
    heads, ffn = np.asarray(heads, dtype=np.int64), np.asarray(ffn, dtype=np.int64)
    active = np.arange(heads.shape[1])[None, :] < num_layers[:, None]
    h, s = shape.hidden_size, seq_len
    width = heads * shape.head_size  # attention width of each layer

    # Per layer: query, key, value and output projections; scores and weighted values; feed-forward in and out;
    # two LayerNorms.
    layer_macs = 4 * s * h * width + 2 * s * s * width + 2 * s * h * ffn + 2 * s * h
    # Embedding LayerNorm, the attention mask's scaling, the pooler and the classifier on the first position.
    macs = s * h + s + h * h + h * shape.num_labels + (layer_macs * active).sum(axis=1)

    layer_params = 4 * h * width + 3 * width + h + 2 * h * ffn + ffn + h
    embeddings = (shape.vocab_size + shape.max_position_embeddings + shape.type_vocab_size) * h
    params = embeddings + h * h + h + (layer_params * active).sum(axis=1)
    return macs, params
