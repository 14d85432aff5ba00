"""The shape of a Hugging Face decoder model, read from its ``config.json``, and the exact costs of its sub-networks.

Two families, told apart by ``model_type``: ``gpt2`` (learned positions, LayerNorm, a GELU MLP, biases everywhere,
one key/value head per query head) and the Llama family (``llama``, ``mistral``, ``qwen2``, ``qwen3``: rotary
positions, RMSNorm, a gated MLP, grouped-query attention, optional biases and per-head query/key norms).

A sub-network keeps, per layer, whether the layer runs, how many key/value groups (with all their query heads) and how
many MLP channels. Its costs, in closed form (checked against counters in the tests):

- ``params``: every stored tensor's elements (a tied output layer counted once);
- ``macs``: multiply-accumulates of one token's forward pass through every weight matrix, the output layer included
  (the exact form of "2 x parameters" FLOPs per token); the attention over a context of ``n`` tokens adds
  ``2 * n * query heads * head_dim`` per layer, which depends on the context and is not counted;
- ``model_size``: megabytes of the weights in the model's stored dtype (what a safetensors file holds, header aside).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from neural_nas.errors import ConfigError

LLAMA_FAMILY = ("llama", "mistral", "qwen2", "qwen3")
FAMILIES = ("gpt2", *LLAMA_FAMILY)
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class LMShape:
    family: str  # "gpt2" or "llama" (the whole Llama family)
    model_type: str
    layers: int
    hidden: int
    heads: int  # query heads
    kv_heads: int  # key/value heads (groups); query heads per group = heads // kv_heads
    head_dim: int
    intermediate: int
    vocab: int
    positions: int  # the longest sequence the model takes
    tied: bool  # the output layer shares the token embedding
    qkv_bias: bool  # query, key and value projections
    output_bias: bool  # the attention's output projection
    mlp_bias: bool
    qk_norm: bool  # per-head RMSNorm of queries and keys (Qwen3)
    dtype_bytes: int

    @property
    def group_size(self) -> int:
        return self.heads // self.kv_heads

    @classmethod
    def from_config(cls, config: Mapping[str, Any], where: str = "config.json") -> LMShape:
        """The shape of a model's ``config.json`` (a dict); a family this library does not know is a ConfigError."""
        model_type = str(config.get("model_type", ""))
        if model_type not in FAMILIES:
            raise ConfigError(
                where,
                model_type or None,
                f"a decoder model of a known family (model_type one of {', '.join(FAMILIES)})",
            )
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
        if model_type == "gpt2":
            hidden, heads = int(config["n_embd"]), int(config["n_head"])
            return cls(
                family="gpt2",
                model_type=model_type,
                layers=int(config["n_layer"]),
                hidden=hidden,
                heads=heads,
                kv_heads=heads,
                head_dim=hidden // heads,
                intermediate=int(config.get("n_inner") or 4 * hidden),
                vocab=int(config["vocab_size"]),
                positions=int(config["n_positions"]),
                tied=bool(config.get("tie_word_embeddings", True)),
                qkv_bias=True,
                output_bias=True,
                mlp_bias=True,
                qk_norm=False,
                dtype_bytes=DTYPE_BYTES.get(dtype, 4),
            )
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        kv_heads = int(config.get("num_key_value_heads") or heads)
        if heads % kv_heads:
            raise ConfigError(
                where, {"heads": heads, "kv_heads": kv_heads}, "query heads a multiple of key/value heads"
            )
        return cls(
            family="llama",
            model_type=model_type,
            layers=int(config["num_hidden_layers"]),
            hidden=hidden,
            heads=heads,
            kv_heads=kv_heads,
            head_dim=int(config.get("head_dim") or hidden // heads),
            intermediate=int(config["intermediate_size"]),
            vocab=int(config["vocab_size"]),
            positions=int(config.get("max_position_embeddings", 2048)),
            tied=bool(config.get("tie_word_embeddings", False)),
            # Where each family's code puts biases, whatever its config says: Qwen2 on query/key/value only, Mistral
            # nowhere, Llama and Qwen3 on all four attention projections if attention_bias (MLP: Llama's mlp_bias).
            qkv_bias=model_type == "qwen2" or (model_type in ("llama", "qwen3") and bool(config.get("attention_bias"))),
            output_bias=model_type in ("llama", "qwen3") and bool(config.get("attention_bias")),
            mlp_bias=model_type == "llama" and bool(config.get("mlp_bias")),
            qk_norm=model_type == "qwen3",
            dtype_bytes=DTYPE_BYTES.get(dtype, 4),
        )


def lm_costs(shape: LMShape, kept: np.ndarray, kv: np.ndarray, channels: np.ndarray) -> dict[str, np.ndarray]:
    """``params``, ``macs`` and ``model_size`` of sub-networks, one row each: ``kept`` (bool ``[rows, layers]``),
    ``kv`` (key/value groups kept per layer) and ``channels`` (MLP channels kept per layer), vectorised."""
    s = shape
    kept = kept.astype(np.int64)
    q = kv.astype(np.int64) * s.group_size * s.head_dim  # query width
    k = kv.astype(np.int64) * s.head_dim  # key (and value) width
    m = channels.astype(np.int64)
    h = s.hidden
    if s.family == "gpt2":
        attn_weights = h * (q + 2 * k) + q * h
        attn_extra = (q + 2 * k) + h  # biases of c_attn and of c_proj
        mlp_weights = 2 * h * m
        mlp_extra = m + h
        norms = 2 * (2 * h)  # two LayerNorms, weight and bias
        outer = s.vocab * h + s.positions * h + 2 * h  # token and position embeddings, final LayerNorm
    else:
        attn_weights = h * (q + 2 * k) + q * h
        attn_extra = (q + 2 * k) * s.qkv_bias + h * s.output_bias + 2 * s.head_dim * s.qk_norm
        mlp_weights = 3 * h * m
        mlp_extra = (2 * m + h) * s.mlp_bias
        norms = 2 * h  # two RMSNorms
        outer = s.vocab * h + h  # token embedding, final RMSNorm
    head = 0 if s.tied else s.vocab * h
    per_layer = attn_weights + attn_extra + mlp_weights + mlp_extra + norms
    params = outer + head + (kept * per_layer).sum(axis=1)
    macs = s.vocab * h + (kept * (attn_weights + mlp_weights)).sum(axis=1)
    return {
        "params": params.astype(np.float64),
        "macs": macs.astype(np.float64),
        "model_size": params.astype(np.float64) * s.dtype_bytes / 1e6,
    }
