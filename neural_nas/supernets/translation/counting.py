"""Exact MACs and parameters of Transformer-LT sub-networks in closed form, vectorised over a population.

The conventions are the reference's (DyNAS-T's Transformer-LT interface):

MACs are those torchprofile reports for one forward pass of the whole model on one sentence of ``sentence_length``
(T) tokens: the encoder on T source tokens, then the decoder on T target tokens in one teacher-forced pass, ending in
the output projection onto the vocabulary. torchprofile counts matrix products (linear layers, the attention's two
batched products) as MACs, and every elementwise multiplication and affine layer norm as one MAC per output element.
That adds, per sub-network: the embedding scale (T x width, encoder and decoder), the position mask (T, each side),
the query scaling (T x qkv_dim per attention), each layer norm (T x width), and 3 scalar multiplications per attention
(the batch-times-heads sizes it reshapes to). Head counts change no MAC: ``qkv_dim`` is fixed and only split.
A decoder layer with ``k`` extra encoder layers (``decoder_arbitrary_ende_attn``) attends to (1 + k) x T keys.

Parameters are counted as the reference's ``get_sampled_params_numel``: every weight and bias of the active layers
(attention projections, feed-forward layers, layer norms); the shared embedding table is not counted.
"""

from __future__ import annotations

import numpy as np

from neural_nas.supernets.translation.space import ENDE_EXTRA_LAYERS, TransformerSpace

SCALAR_MULS_PER_ATTENTION = 3


def gene_values(space: TransformerSpace, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Gene values of a population (rows of choice indices), by parameter (one column per gene)."""
    from neural_nas.predictors.features import gene_slice

    encoding = space.encoding()
    return {
        name: np.asarray(spec["vars"], dtype=np.int64)[vectors[:, gene_slice(encoding, name)]]
        for name, spec in encoding.params.items()
    }


def macs_breakdown(space: TransformerSpace, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix-product MACs, elementwise MACs)`` per row; their sum is the reference's MACs."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
    return _macs(space, gene_values(space, vectors))


def _macs(space: TransformerSpace, genes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    t, q, v = space.sentence_length, space.qkv_dim, space.vocab_size
    de = genes["encoder_embed_dim"][:, 0]
    dd = genes["decoder_embed_dim"][:, 0]
    layers = genes["decoder_layer_num"][:, 0]
    active = np.arange(space.decoder_layers)[None, :] < layers[:, None]
    extra = np.vectorize(ENDE_EXTRA_LAYERS.get, otypes=[np.int64])(genes["decoder_arbitrary_ende_attn"])
    keys = t * (1 + extra)  # encoder-decoder attention keys of each decoder layer
    enc_ffn = genes["encoder_ffn_embed_dim"].sum(axis=1)
    dec_ffn = (genes["decoder_ffn_embed_dim"] * active).sum(axis=1)
    n_enc = space.encoder_layers

    # Matrix products. Self-attention: q/k/v projections, scores, weighted values, output projection.
    enc_self = t * de * 3 * q + 2 * t * t * q + t * q * de
    dec_self = t * dd * 3 * q + 2 * t * t * q + t * q * dd
    # Encoder-decoder attention: queries and output at the decoder's width, keys/values from `keys` encoder states.
    cross_fixed = t * dd * q + t * q * dd
    cross_keys = ((2 * keys * de[:, None] * q + 2 * t * keys * q) * active).sum(axis=1)
    matmul = n_enc * enc_self + 2 * t * de * enc_ffn + layers * (dec_self + cross_fixed) + cross_keys
    matmul = matmul + 2 * t * dd * dec_ffn + t * dd * v  # feed-forward layers, output projection

    # Elementwise: query scaling and scalar products per attention, layer norms, embedding scale, position mask.
    per_attention = t * q + SCALAR_MULS_PER_ATTENTION
    elementwise = n_enc * (per_attention + 2 * t * de) + t * de + t
    elementwise = elementwise + layers * (2 * per_attention + 3 * t * dd) + t * dd + t
    return matmul, elementwise


def exact_macs_params(space: TransformerSpace, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """``{"macs": ..., "params": ...}`` (int64, one per row) of a population of choice-index vectors."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
    genes = gene_values(space, vectors)
    matmul, elementwise = _macs(space, genes)
    q = space.qkv_dim
    de = genes["encoder_embed_dim"][:, 0]
    dd = genes["decoder_embed_dim"][:, 0]
    layers = genes["decoder_layer_num"][:, 0]
    active = np.arange(space.decoder_layers)[None, :] < layers[:, None]
    enc_ffn, dec_ffn = genes["encoder_ffn_embed_dim"], genes["decoder_ffn_embed_dim"] * active
    # Per layer: attention projections (q, k, v and output, with biases), layer norms, feed-forward weights/biases.
    enc_params = space.encoder_layers * (4 * q * de + 3 * q + de + 4 * de + de)
    enc_params = enc_params + ((2 * de[:, None] + 1) * enc_ffn).sum(axis=1)
    dec_self = 4 * q * dd + 3 * q + dd
    dec_cross = 2 * q * dd + 2 * q * de + 3 * q + dd
    dec_params = layers * (dec_self + dec_cross + 6 * dd + dd) + ((2 * dd[:, None] + 1) * dec_ffn).sum(axis=1)
    return {"macs": matmul + elementwise, "params": enc_params + dec_params}
