"""The Transformer-LT super-network (HAT's super transformer) in plain PyTorch, and its standalone sub-networks.

`SuperTransformer` holds the shared weights under the names of the reference's checkpoint (``encoder.layers.0.fc1.
weight``, ...). `SuperTransformer.extract` slices them into a `Transformer` of a sub-network's own size, as the
reference's elastic layers do: the first ``width`` rows/columns of each matrix, the first ``qkv_dim`` x ``d`` of
the attention projections, the first ``d`` columns of the shared embedding and of the sinusoidal position table
(computed at the super-network's width). `SuperTransformer.absorb` writes a sub-network's weights back.

The architecture (post-norm, ReLU, no final layer norm, one embedding table for encoder input, decoder input and
output projection, ``sqrt(width)`` embedding scale, fairseq's sinusoidal positions counted from ``padding_idx + 1``)
follows the reference. Tensors are batch-first here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neural_nas.supernets.translation.data import PAD
from neural_nas.supernets.translation.space import SubnetShape, TransformerSpace


def sinusoidal_table(num_positions: int, dim: int, padding_idx: int = PAD) -> Tensor:
    """fairseq's sinusoidal position embeddings: sines then cosines of geometric frequencies; the padding row is 0."""
    half = dim // 2
    rate = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float) * -rate)
    angles = torch.arange(num_positions, dtype=torch.float)[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    table[padding_idx] = 0
    return table


def token_positions(tokens: Tensor, padding_idx: int = PAD) -> Tensor:
    """Positions ``padding_idx + 1, ...`` of the non-padding tokens (padding keeps ``padding_idx``), as fairseq."""
    mask = tokens.ne(padding_idx).long()
    return torch.cumsum(mask, dim=1) * mask + padding_idx


def attend(q: Tensor, k: Tensor, v: Tensor, heads: int, mask: Tensor | None) -> Tensor:
    """Scaled dot-product attention. q (B, Tq, Q), k/v (B, Tk, Q); ``mask`` (B or 1, 1 or Tq, Tk) True = hidden."""
    b, tq, width = q.shape
    hd = width // heads
    q = (q * hd**-0.5).view(b, tq, heads, hd).transpose(1, 2)
    k = k.view(b, -1, heads, hd).transpose(1, 2)
    v = v.view(b, -1, heads, hd).transpose(1, 2)
    scores = q @ k.transpose(-1, -2)
    if mask is not None:
        scores = scores.masked_fill(mask[:, None], float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).type_as(scores)
    return (weights @ v).transpose(1, 2).reshape(b, tq, width)


@dataclass
class SlotCache:
    """Self-attention keys and values in a fixed number of target positions (slots), as an exported decoding step
    keeps them (a graph with fixed shapes): the step writes its own into the slot ``write`` marks; the attention
    mask hides the slots after it."""

    k: Tensor  # (N, slots, Q)
    v: Tensor
    write: Tensor  # (slots,) bool, True at this step's slot

    def update(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        slot = self.write[None, :, None]
        self.k, self.v = torch.where(slot, k, self.k), torch.where(slot, v, self.v)
        return self.k, self.v


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused q/k/v projection (the checkpoint's ``in_proj_weight``)."""

    def __init__(self, dim: int, qkv_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * qkv_dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * qkv_dim))
        self.out_proj = nn.Linear(qkv_dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor, mask: Tensor | None = None, cache: dict | SlotCache | None = None) -> Tensor:
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        if isinstance(cache, SlotCache):
            k, v = cache.update(k, v)
        elif cache is not None:  # incremental decoding: keys and values of the earlier steps
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=1), torch.cat([cache["v"], v], dim=1)
            cache["k"], cache["v"] = k, v
        return self.out_proj(attend(q, k, v, self.heads, mask))


class CrossAttention(nn.Module):
    """Encoder-decoder attention: queries from the decoder's width, keys and values from the encoder's."""

    def __init__(self, dim: int, kv_dim: int, qkv_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, qkv_dim)
        self.kv_proj = nn.Linear(kv_dim, 2 * qkv_dim)
        self.out_proj = nn.Linear(qkv_dim, dim)

    def forward(self, x: Tensor, memory: Tensor, mask: Tensor | None, cache: dict | None = None) -> Tensor:
        if cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]  # the encoder's keys and values do not change while decoding
        else:
            k, v = self.kv_proj(memory).chunk(2, dim=-1)
            if cache is not None:
                cache["k"], cache["v"] = k, v
        return self.out_proj(attend(self.q_proj(x), k, v, self.heads, mask))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, ffn: int, heads: int, qkv_dim: int) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, qkv_dim, heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, pad_mask: Tensor | None) -> Tensor:
        x = self.self_attn_layer_norm(x + self.self_attn(x, pad_mask))
        return self.final_layer_norm(x + self.fc2(F.relu(self.fc1(x))))


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, enc_dim: int, ffn: int, self_heads: int, ende_heads: int, qkv_dim: int, extra: int):
        super().__init__()
        self.extra = extra  # encoder layers below the last one this layer also attends to
        self.self_attn = SelfAttention(dim, qkv_dim, self_heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.encoder_attn = CrossAttention(dim, enc_dim, qkv_dim, ende_heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(
        self, x: Tensor, memory: Tensor, memory_mask: Tensor | None, self_mask: Tensor | None, cache: dict | None
    ) -> Tensor:
        self_cache = cross_cache = None
        if cache is not None:
            self_cache, cross_cache = cache.setdefault("self", {}), cache.setdefault("cross", {})
        x = self.self_attn_layer_norm(x + self.self_attn(x, self_mask, self_cache))
        x = self.encoder_attn_layer_norm(x + self.encoder_attn(x, memory, memory_mask, cross_cache))
        return self.final_layer_norm(x + self.fc2(F.relu(self.fc1(x))))


@dataclass
class EncoderOut:
    """The last encoder layer's output, every layer's output (B, S, d) and the padding mask (B, S) or None."""

    out: Tensor
    layers: list[Tensor]
    pad_mask: Tensor | None

    def memory(self, extra: int) -> tuple[Tensor, Tensor | None]:
        """What a decoder layer attends to: the last layer's output, then ``extra`` layers below it, along time."""
        states = [self.out] + [self.layers[-2 - i] for i in range(extra)]
        mask = None if self.pad_mask is None else torch.cat([self.pad_mask] * (1 + extra), dim=1)
        return torch.cat(states, dim=1), mask

    def select(self, order: Tensor) -> EncoderOut:
        """Rows ``order`` (beam search expands and reorders sentences)."""
        mask = None if self.pad_mask is None else self.pad_mask.index_select(0, order)
        return EncoderOut(self.out.index_select(0, order), [x.index_select(0, order) for x in self.layers], mask)


@dataclass
class DecoderState:
    """Incremental decoding: one cache per decoder layer (self-attention keys so far, encoder keys/values)."""

    caches: list[dict] = field(default_factory=list)

    def select(self, order: Tensor) -> None:
        for cache in self.caches:
            for part in cache.values():
                for key in part:
                    part[key] = part[key].index_select(0, order)


class Transformer(nn.Module):
    """A standalone encoder-decoder of one sub-network's size (the super-network's largest one included).

    ``forward(src_tokens, prev_output_tokens)`` -> logits (B, T, V) of a teacher-forced pass; `encode` and
    `decode_step` serve beam search (one new target token at a time, with cached keys and values).
    """

    def __init__(self, shape: SubnetShape) -> None:
        super().__init__()
        space = shape.space
        self.subnet_shape = shape
        de, dd = shape.encoder_embed_dim, shape.decoder_embed_dim
        self.embed_tokens = nn.Embedding(space.vocab_size, max(de, dd), padding_idx=PAD)
        nn.init.normal_(self.embed_tokens.weight, mean=0, std=space.super_embed_dim**-0.5)
        with torch.no_grad():
            self.embed_tokens.weight[PAD] = 0
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(de, f, h, space.qkv_dim) for f, h in zip(shape.encoder_ffn, shape.encoder_heads)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(dd, de, f, hs, he, space.qkv_dim, extra)
            for f, hs, he, extra in zip(
                shape.decoder_ffn, shape.decoder_self_heads, shape.decoder_ende_heads, shape.decoder_ende_extra
            )
        )
        # Computed at the super-network's width and sliced, as the reference does; not saved (derived).
        table = sinusoidal_table(space.max_positions + PAD + 1, space.super_embed_dim)
        self.register_buffer("encoder_positions", table[:, :de].clone(), persistent=False)
        self.register_buffer("decoder_positions", table[:, :dd].clone(), persistent=False)
        self.max_positions = space.max_positions

    def _embed(self, tokens: Tensor, positions: Tensor, width: int, table: Tensor) -> Tensor:
        return math.sqrt(width) * F.embedding(tokens, self.embed_tokens.weight[:, :width]) + table[positions]

    def encode(self, src_tokens: Tensor) -> EncoderOut:
        de = self.subnet_shape.encoder_embed_dim
        x = self._embed(src_tokens, token_positions(src_tokens), de, self.encoder_positions)
        pad = src_tokens.eq(PAD)
        # As fairseq: no mask when nothing is padded (faster). A traced or exported graph keeps it: right for padded
        # batches too.
        keep = torch.jit.is_tracing() or torch.compiler.is_exporting()
        pad_mask = pad if keep or bool(pad.any()) else None
        layers = []
        for layer in self.encoder_layers:
            x = layer(x, None if pad_mask is None else pad_mask[:, None, :])
            layers.append(x)
        return EncoderOut(x, layers, pad_mask)

    def decode(self, prev_tokens: Tensor, enc: EncoderOut, state: DecoderState | None = None) -> Tensor:
        """Logits (B, T, V) for every position of ``prev_tokens`` (or only the last one, with ``state``)."""
        dd = self.subnet_shape.decoder_embed_dim
        positions = token_positions(prev_tokens)
        self_mask = None
        if state is not None:  # only the newest token goes through; earlier ones are in the caches
            prev_tokens, positions = prev_tokens[:, -1:], positions[:, -1:]
            if not state.caches:
                state.caches = [{} for _ in self.decoder_layers]
        else:
            t = prev_tokens.size(1)
            self_mask = torch.ones(t, t, dtype=torch.bool, device=prev_tokens.device).triu(1)[None]
        x = self._embed(prev_tokens, positions, dd, self.decoder_positions)
        for i, layer in enumerate(self.decoder_layers):
            memory, mask = enc.memory(layer.extra)
            cache = None if state is None else state.caches[i]
            x = layer(x, memory, None if mask is None else mask[:, None, :], self_mask, cache)
        return F.linear(x, self.embed_tokens.weight[:, :dd])

    def decode_step(self, prev_tokens: Tensor, enc: EncoderOut, state: DecoderState) -> Tensor:
        """Log-probabilities (N, V) of the next token after ``prev_tokens`` (N, t)."""
        return torch.log_softmax(self.decode(prev_tokens, enc, state)[:, -1].float(), dim=-1)

    def forward(self, src_tokens: Tensor, prev_output_tokens: Tensor) -> Tensor:
        return self.decode(prev_output_tokens, self.encode(src_tokens))


def _linear(prefix: str, out_dim: int, in_dim: int) -> dict[str, tuple[str, tuple[slice, ...]]]:
    return {
        f"{prefix}.weight": (f"{prefix}.weight", (slice(0, out_dim), slice(0, in_dim))),
        f"{prefix}.bias": (f"{prefix}.bias", (slice(0, out_dim),)),
    }


def _norm(prefix: str, dim: int) -> dict[str, tuple[str, tuple[slice, ...]]]:
    return {f"{prefix}.{p}": (f"{prefix}.{p}", (slice(0, dim),)) for p in ("weight", "bias")}


def weight_map(shape: SubnetShape) -> dict[str, tuple[str, tuple[slice, ...]]]:
    """Sub-network parameter name -> (super-network parameter name, the slice of it it is)."""
    q = shape.space.qkv_dim
    de, dd = shape.encoder_embed_dim, shape.decoder_embed_dim
    out = {"embed_tokens.weight": ("encoder.embed_tokens.weight", (slice(None), slice(0, max(de, dd))))}
    for i, f in enumerate(shape.encoder_ffn):
        sub, sup = f"encoder_layers.{i}", f"encoder.layers.{i}"
        out[f"{sub}.self_attn.in_proj_weight"] = (f"{sup}.self_attn.in_proj_weight", (slice(None), slice(0, de)))
        out[f"{sub}.self_attn.in_proj_bias"] = (f"{sup}.self_attn.in_proj_bias", (slice(None),))
        parts = {
            **_linear("self_attn.out_proj", de, q),
            **_norm("self_attn_layer_norm", de),
            **_linear("fc1", f, de),
            **_linear("fc2", de, f),
            **_norm("final_layer_norm", de),
        }
        out.update({f"{sub}.{k}": (f"{sup}.{name}", s) for k, (name, s) in parts.items()})
    for i, f in enumerate(shape.decoder_ffn):
        sub, sup = f"decoder_layers.{i}", f"decoder.layers.{i}"
        out[f"{sub}.self_attn.in_proj_weight"] = (f"{sup}.self_attn.in_proj_weight", (slice(None), slice(0, dd)))
        out[f"{sub}.self_attn.in_proj_bias"] = (f"{sup}.self_attn.in_proj_bias", (slice(None),))
        # The reference keeps one fused (3 qkv_dim x width) projection: q rows read the decoder's width, k and v
        # rows the encoder's.
        fused = f"{sup}.encoder_attn.in_proj_weight"
        out[f"{sub}.encoder_attn.q_proj.weight"] = (fused, (slice(0, q), slice(0, dd)))
        out[f"{sub}.encoder_attn.kv_proj.weight"] = (fused, (slice(q, 3 * q), slice(0, de)))
        out[f"{sub}.encoder_attn.q_proj.bias"] = (f"{sup}.encoder_attn.in_proj_bias", (slice(0, q),))
        out[f"{sub}.encoder_attn.kv_proj.bias"] = (f"{sup}.encoder_attn.in_proj_bias", (slice(q, 3 * q),))
        parts = {
            **_linear("self_attn.out_proj", dd, q),
            **_norm("self_attn_layer_norm", dd),
            **_linear("encoder_attn.out_proj", dd, q),
            **_norm("encoder_attn_layer_norm", dd),
            **_linear("fc1", f, dd),
            **_linear("fc2", dd, f),
            **_norm("final_layer_norm", dd),
        }
        out.update({f"{sub}.{k}": (f"{sup}.{name}", s) for k, (name, s) in parts.items()})
    return out


class _Encoder(nn.Module):
    def __init__(self, space: TransformerSpace, embed: nn.Embedding) -> None:
        super().__init__()
        d, f, h, q = space.super_embed_dim, space.super_ffn_dim, max(space.heads), space.qkv_dim
        self.embed_tokens = embed
        self.layers = nn.ModuleList(EncoderLayer(d, f, h, q) for _ in range(space.encoder_layers))


class _DecoderLayerWeights(nn.Module):
    """A decoder layer's weights under the checkpoint's names (the fused encoder-attention projection)."""

    def __init__(self, d: int, f: int, h: int, q: int) -> None:
        super().__init__()
        self.self_attn = SelfAttention(d, q, h)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = SelfAttention(d, q, h)  # same tensors: in_proj_weight (3q, d), in_proj_bias, out_proj
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, f), nn.Linear(f, d)
        self.final_layer_norm = nn.LayerNorm(d)


class _Decoder(nn.Module):
    def __init__(self, space: TransformerSpace, embed: nn.Embedding) -> None:
        super().__init__()
        d, f, h, q = space.super_embed_dim, space.super_ffn_dim, max(space.heads), space.qkv_dim
        self.embed_tokens = embed
        self.layers = nn.ModuleList(_DecoderLayerWeights(d, f, h, q) for _ in range(space.decoder_layers))


class SuperTransformer(nn.Module):
    """The shared weights of every sub-network, named as in the reference's checkpoint ``model`` state dict."""

    def __init__(self, space: TransformerSpace) -> None:
        super().__init__()
        self.space = space
        embed = nn.Embedding(space.vocab_size, space.super_embed_dim, padding_idx=PAD)
        nn.init.normal_(embed.weight, mean=0, std=space.super_embed_dim**-0.5)
        with torch.no_grad():
            embed.weight[PAD] = 0
        # One table, two names (``encoder.embed_tokens.weight`` and ``decoder.embed_tokens.weight``), as saved.
        self.encoder = _Encoder(space, embed)
        self.decoder = _Decoder(space, embed)

    def extract(self, shape: SubnetShape) -> Transformer:
        """A standalone `Transformer` of ``shape`` with its weights copied from the shared ones."""
        with torch.device("meta"):
            model = Transformer(shape)  # no random init: every tensor is copied below
        params = dict(self.named_parameters(remove_duplicate=False))
        device = params["encoder.embed_tokens.weight"].device
        model = model.to_empty(device=device)
        mapping = weight_map(shape)
        with torch.no_grad():
            for name, tensor in model.named_parameters():
                source, index = mapping[name]
                tensor.copy_(params[source][index])
            table = sinusoidal_table(shape.space.max_positions + PAD + 1, shape.space.super_embed_dim).to(device)
            model.encoder_positions.copy_(table[:, : shape.encoder_embed_dim])
            model.decoder_positions.copy_(table[:, : shape.decoder_embed_dim])
        return model.eval()

    def absorb(self, shape: SubnetShape, model: Transformer) -> None:
        """Write a sub-network's weights back into their slices of the shared ones (the inverse of `extract`)."""
        params = dict(self.named_parameters(remove_duplicate=False))
        mapping = weight_map(shape)
        with torch.no_grad():
            for name, tensor in model.named_parameters():
                source, index = mapping[name]
                params[source][index].copy_(tensor)
