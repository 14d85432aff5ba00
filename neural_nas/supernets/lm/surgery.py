"""Cutting a Hugging Face decoder model down to a sub-network: whole layers, key/value groups, MLP channels.

A key/value group is cut with all the query heads that read it (grouped-query attention keeps its ratio); a GPT-2
head is its own group. `take` rebuilds one layer's projections keeping the listed groups and channels, in the listed
order: with every index in importance order it reorders the super-network once (`neural_nas.supernets.lm.importance`),
after which a sub-network keeps the first ones (`subnet_model`). Head dimension, hidden size and vocabulary never
change, so the code of the model (attention, rotary positions, norms) runs unchanged on the smaller projections.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from neural_nas.supernets.lm.shape import LMShape


def decoder_layers(model: nn.Module, shape: LMShape) -> nn.ModuleList:
    return model.transformer.h if shape.family == "gpt2" else model.model.layers


def _rows(linear: nn.Linear, index: torch.Tensor) -> nn.Linear:
    out = nn.Linear(linear.in_features, len(index), bias=linear.bias is not None)
    out = out.to(dtype=linear.weight.dtype, device=linear.weight.device)
    out.weight.data = linear.weight.data[index].clone()
    if linear.bias is not None:
        out.bias.data = linear.bias.data[index].clone()
    return out


def _columns(linear: nn.Linear, index: torch.Tensor) -> nn.Linear:
    out = nn.Linear(len(index), linear.out_features, bias=linear.bias is not None)
    out = out.to(dtype=linear.weight.dtype, device=linear.weight.device)
    out.weight.data = linear.weight.data[:, index].clone()
    if linear.bias is not None:
        out.bias.data = linear.bias.data.clone()
    return out


def _conv1d(weight: torch.Tensor, bias: torch.Tensor) -> nn.Module:
    """GPT-2's Conv1D (``x @ weight + bias``, weight ``[in, out]``) holding these tensors."""
    from transformers.pytorch_utils import Conv1D

    out = Conv1D(weight.shape[1], weight.shape[0]).to(dtype=weight.dtype, device=weight.device)
    out.weight.data, out.bias.data = weight.clone(), bias.clone()
    return out


def head_index(groups: torch.Tensor, width: int) -> torch.Tensor:
    """Rows of the heads (or groups) ``groups``, each ``width`` rows wide, in that order."""
    return (groups[:, None] * width + torch.arange(width, device=groups.device)[None, :]).reshape(-1)


def take(layer: nn.Module, shape: LMShape, groups: Sequence[int], channels: Sequence[int]) -> None:
    """Keep the key/value ``groups`` (with their query heads) and the MLP ``channels`` of one decoder layer, in the
    given order, replacing its projections in place."""
    device = next(layer.parameters()).device
    g = torch.as_tensor(list(groups), dtype=torch.long, device=device)
    c = torch.as_tensor(list(channels), dtype=torch.long, device=device)
    q_rows = head_index(g, shape.group_size * shape.head_dim)
    kv_rows = head_index(g, shape.head_dim)
    if shape.family == "gpt2":
        attn, mlp = layer.attn, layer.mlp
        h = shape.hidden
        columns = torch.cat([q_rows, h + kv_rows, 2 * h + kv_rows])
        attn.c_attn = _conv1d(attn.c_attn.weight.data[:, columns], attn.c_attn.bias.data[columns])
        attn.c_proj = _conv1d(attn.c_proj.weight.data[q_rows], attn.c_proj.bias.data)
        attn.split_size = len(q_rows)
        attn.num_heads = len(g)
        mlp.c_fc = _conv1d(mlp.c_fc.weight.data[:, c], mlp.c_fc.bias.data[c])
        mlp.c_proj = _conv1d(mlp.c_proj.weight.data[c], mlp.c_proj.bias.data)
        return
    attn, mlp = layer.self_attn, layer.mlp
    attn.q_proj = _rows(attn.q_proj, q_rows)
    attn.k_proj = _rows(attn.k_proj, kv_rows)
    attn.v_proj = _rows(attn.v_proj, kv_rows)
    attn.o_proj = _columns(attn.o_proj, q_rows)
    mlp.gate_proj = _rows(mlp.gate_proj, c)
    mlp.up_proj = _rows(mlp.up_proj, c)
    mlp.down_proj = _columns(mlp.down_proj, c)


def keep_layers(model: nn.Module, shape: LMShape, kept: Sequence[int], original: Sequence[int] | None = None) -> None:
    """Keep only the decoder layers ``kept`` (indices, in order), renumbered so that caches index them densely;
    ``original``: the super-network's indices of those layers (default ``kept``), whose per-layer settings they keep."""
    original = list(kept if original is None else original)
    layers = decoder_layers(model, shape)
    chosen = nn.ModuleList([layers[i] for i in kept])
    for number, layer in enumerate(chosen):
        (layer.attn if shape.family == "gpt2" else layer.self_attn).layer_idx = number
    _set_layers(model, shape, chosen)
    if shape.family == "gpt2":
        model.config.n_layer = len(chosen)
    else:
        model.config.num_hidden_layers = len(chosen)
    layer_types = getattr(model.config, "layer_types", None)
    if layer_types is not None:
        model.config.layer_types = [layer_types[i] for i in original]


def subnet_model(model: nn.Module, shape: LMShape, kept: Sequence[bool], kv: Sequence[int], channels: Sequence[int]):
    """A copy of ``model`` (already in importance order) cut to the sub-network: the layers ``kept``, each with its
    first ``kv`` groups and first ``channels`` MLP channels."""
    layers = decoder_layers(model, shape)
    _set_layers(model, shape, nn.ModuleList())  # copied without its layers: a dropped layer is never copied
    try:
        sub = copy.deepcopy(model)
    finally:
        _set_layers(model, shape, layers)
    chosen = []
    for i, layer in enumerate(layers):
        if kept[i]:
            layer = copy.deepcopy(layer)
            take(layer, shape, range(kv[i]), range(channels[i]))
            chosen.append(layer)
    _set_layers(sub, shape, nn.ModuleList(chosen))
    keep_layers(sub, shape, range(len(chosen)), [i for i, k in enumerate(kept) if k])
    return sub.eval()


def _set_layers(model: nn.Module, shape: LMShape, layers: nn.ModuleList) -> None:
    if shape.family == "gpt2":
        model.transformer.h = layers
    else:
        model.model.layers = layers
