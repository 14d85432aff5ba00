"""Which heads and MLP channels matter: activation importance on calibration text (as NVIDIA's Minitron), once.

For every layer, over the calibration sequences: a query head's score is the L2 norm, over a sequence's tokens and
the head's dimensions, of its attention output (what the output projection reads), averaged over the sequences; a
key/value group scores the sum of its query heads. An MLP channel's score is the L2 norm over a sequence's tokens of
its activation (what the down projection reads), averaged likewise. `order` sorts each layer's groups and channels
by decreasing score, so that a sub-network keeping the first ones keeps the most important.

The scores are saved beside the results (``<results csv>.importance.safetensors``), keyed by the model's files and
the calibration text; a later search or export with the same model and text reads them instead of recomputing.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from neural_nas.supernets.lm.shape import LMShape
from neural_nas.supernets.lm.surgery import decoder_layers, take

logger = logging.getLogger("neural_nas")

FORMAT = "neural_nas.lm_importance/1"


def _readers(layer: nn.Module, shape: LMShape) -> tuple[nn.Module, nn.Module]:
    """The modules that read a layer's head outputs and its MLP activations."""
    if shape.family == "gpt2":
        return layer.attn.c_proj, layer.mlp.c_proj
    return layer.self_attn.o_proj, layer.mlp.down_proj


@torch.no_grad()
def importance_scores(model: nn.Module, shape: LMShape, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """``{"groups": [layers, kv_heads], "channels": [layers, intermediate]}`` scores of ``model`` on ``batches`` of
    token ids (``[batch, tokens]``)."""
    layers = decoder_layers(model, shape)
    groups = torch.zeros(len(layers), shape.kv_heads, dtype=torch.float64)
    channels = torch.zeros(len(layers), shape.intermediate, dtype=torch.float64)
    sequences = 0
    hooks = []

    def head_hook(i: int):
        def hook(_module: nn.Module, args: tuple) -> None:
            x = args[0].double()  # [batch, tokens, heads * head_dim]
            per_head = x.reshape(*x.shape[:2], shape.heads, shape.head_dim).norm(dim=(1, 3))  # [batch, heads]
            groups[i] += per_head.reshape(len(x), shape.kv_heads, shape.group_size).sum(dim=(0, 2)).cpu()

        return hook

    def channel_hook(i: int):
        def hook(_module: nn.Module, args: tuple) -> None:
            channels[i] += args[0].double().norm(dim=1).sum(dim=0).cpu()  # over tokens, then summed over the batch

        return hook

    for i, layer in enumerate(layers):
        heads, mlp = _readers(layer, shape)
        hooks += [heads.register_forward_pre_hook(head_hook(i)), mlp.register_forward_pre_hook(channel_hook(i))]
    model.eval()
    try:
        for batch in batches:
            model(input_ids=batch.to(next(model.parameters()).device), use_cache=False)
            sequences += len(batch)
    finally:
        for hook in hooks:
            hook.remove()
    if sequences == 0:
        raise ValueError("no calibration sequence to score heads and channels on")
    return {"groups": groups / sequences, "channels": channels / sequences}


def order(model: nn.Module, shape: LMShape, scores: dict[str, torch.Tensor]) -> None:
    """Reorder every layer's groups and channels by decreasing score, in place (the model computes the same)."""
    for i, layer in enumerate(decoder_layers(model, shape)):
        groups = torch.argsort(scores["groups"][i], descending=True, stable=True)
        channels = torch.argsort(scores["channels"][i], descending=True, stable=True)
        take(layer, shape, groups.tolist(), channels.tolist())


def fingerprint(model_dir: Path, text: Path, sequences: int, tokens: int, weights: str) -> str:
    """What the scores depend on: every file of the model folder (config, weights, tokenizer: names, sizes, times),
    which weights were scored (``pretrained`` or ``random``), and the calibration text's bytes and amount."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    digest.update(hashlib.sha256(text.read_bytes()).digest())
    digest.update(f"{sequences}x{tokens}:{weights}".encode())
    return digest.hexdigest()


def cached_scores(path: Path, key: str) -> dict[str, torch.Tensor] | None:
    """The scores saved at ``path`` under ``key``; None when there are none, or they are of another model or text."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT or meta.get("key") != key:
            logger.info("%s holds the scores of another model or calibration text: recomputing", path)
            return None
        return {name: f.get_tensor(name) for name in ("groups", "channels")}


def save_scores(path: Path, key: str, scores: dict[str, torch.Tensor]) -> None:
    """Write the scores atomically (a killed write never leaves a half file under the name)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in scores.items()}, str(tmp), metadata={"format": FORMAT, "key": key})
    os.replace(tmp, path)
