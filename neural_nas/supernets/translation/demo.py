"""A small Transformer-LT super-network and data in the reference's exact formats, for demos and tests.

`DEMO_SPACE` has the reference's 39 genes with narrow widths and a 32-symbol vocabulary; `write_copy_task` writes a
fairseq data-bin of a copy task (each German sentence is its English one, word pieces joined with ``@@``);
`train_copy_checkpoint` trains the super-network's largest sub-network on it for a few seconds and saves a checkpoint
in the reference's format (a fairseq checkpoint whose ``model`` entry is the state dict). `TransformerLTDemo` is the
super-network class of that space; `register_demo` registers it (it is not registered on import).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets.translation.data import EOS, PAD, load_split, write_data_bin
from neural_nas.supernets.translation.space import SubnetShape, TransformerSpace
from neural_nas.supernets.translation.supernet import TransformerLTSuperNetwork

DEMO_SPACE = TransformerSpace(
    encoder_embed_dims=(32, 24),
    decoder_embed_dims=(32, 24),
    ffn_dims=(64, 48, 32),
    heads=(4, 2),
    qkv_dim=32,
    vocab_size=32,
    max_positions=64,
)
DEMO_NAME = "transformer_lt_demo"
# Words and word pieces of the copy task (``@@`` marks a piece continued by the next one, as BPE does).
WORDS = [
    "das",
    "Haus",
    "ist",
    "klein",
    "groß",
    "und",
    "der",
    "Hund",
    "Katze",
    "sieht",
    "die",
    "Ma@@",
    "us",
    "im",
    "Gar@@",
    "ten",
    "heute",
    "Abend",
    "schön",
    "Wasser",
]


class TransformerLTDemo(TransformerLTSuperNetwork):
    """`DEMO_SPACE` on the Transformer-LT code (every metric, the same data layout and checkpoint format)."""

    name = DEMO_NAME
    space: ClassVar[TransformerSpace] = DEMO_SPACE
    inner_evals: ClassVar[int] = 2000


def register_demo() -> type[TransformerLTDemo]:
    """Register `TransformerLTDemo` as ``transformer_lt_demo`` (idempotent)."""
    if DEMO_NAME not in supernet_registry.names():
        supernet_registry(DEMO_NAME)(TransformerLTDemo)
    return TransformerLTDemo


def copy_pairs(n: int, seed: int, min_words: int = 3, max_words: int = 9) -> list[tuple[str, str]]:
    """``n`` random sentences of `WORDS`, each paired with itself."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=int(rng.integers(min_words, max_words + 1)))]
        if words[-1].endswith("@@"):
            words.append("en")
        sentence = " ".join(words)
        pairs.append((sentence, sentence))
    return pairs


def write_copy_task(root: str | Path, n_test: int = 40, n_train: int = 2000, seed: int = 0, fmt: str = "mmap") -> Path:
    """A data-bin at ``root`` (``test`` and ``train`` splits, joined dictionary of ``DEMO_SPACE.vocab_size``)."""
    vocab = sorted(set(WORDS) | {"en"})
    for split, n, s in (("test", n_test, seed), ("train", n_train, seed + 1)):
        write_data_bin(root, copy_pairs(n, s), split=split, fmt=fmt, vocab=vocab, vocab_size=DEMO_SPACE.vocab_size)
    return Path(root)


def save_checkpoint(model: Any, path: str | Path, legacy_format: bool = False, **args: Any) -> None:
    """Save a `SuperTransformer` as fairseq saves one: ``{"args": Namespace, "model": state dict, ...}``;
    ``legacy_format``: in torch < 1.6's file format, as checkpoints of 2020 (HAT's) may be."""
    import torch

    state = dict(model.state_dict())
    for side in ("encoder", "decoder"):  # what fairseq's modules save beside the weights
        state[f"{side}.version"] = torch.tensor([3.0])
        state[f"{side}.embed_positions._float_tensor"] = torch.tensor([1.0])
    checkpoint = {
        "args": argparse.Namespace(arch="transformersuper", **args),
        "model": state,
        "optimizer_history": [{"criterion_name": "LabelSmoothedCrossEntropyCriterion", "num_updates": 0}],
        "extra_state": {"train_iterator": {"epoch": 1}},
    }
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy_format)


def train_copy_checkpoint(
    data_root: str | Path, path: str | Path, steps: int = 300, batch_size: int = 32, seed: int = 0, lr: float = 3e-3
) -> float:
    """Train the largest sub-network of `DEMO_SPACE` on the copy task's ``train`` split, write its weights into a
    randomly initialised super-network and save that as a checkpoint at ``path``. Returns the last batch's loss."""
    import torch
    import torch.nn.functional as F

    from neural_nas.supernets.translation.measurer import left_padded
    from neural_nas.supernets.translation.model import SuperTransformer

    split = load_split(data_root, "train")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        supernet = SuperTransformer(DEMO_SPACE)
        shape = SubnetShape.largest(DEMO_SPACE)
        model = supernet.extract(shape).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
        rng = np.random.default_rng(seed)
        loss = torch.tensor(float("nan"))
        for step in range(steps):
            for group in optimizer.param_groups:  # linear warm-up: post-norm transformers need it
                group["lr"] = lr * min(1.0, (step + 1) / 50)
            rows = rng.integers(0, len(split.source), size=batch_size)
            src = torch.as_tensor(left_padded([split.source[i] for i in rows]))
            targets = [split.target[i] for i in rows]
            width = max(len(t) for t in targets)
            target = torch.full((batch_size, width), PAD, dtype=torch.long)
            prev = torch.full((batch_size, width), PAD, dtype=torch.long)
            for r, t in enumerate(targets):
                target[r, : len(t)] = torch.as_tensor(t)
                prev[r, 0] = EOS  # the decoder starts from </s>, as fairseq's
                prev[r, 1 : len(t)] = torch.as_tensor(t[:-1])
            logits = model(src, prev)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=PAD)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        supernet.absorb(shape, model.eval())
    save_checkpoint(supernet, path, seed=seed, steps=steps)
    return float(loss.detach())
