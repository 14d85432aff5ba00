"""An elastic BERT for sequence classification in plain PyTorch, and the extraction of its sub-networks.

One module class serves both: the super-network is a `BertClassifier` at its largest widths; a sub-network is a
`BertClassifier` with fewer layers, heads and feed-forward units whose tensors are the leading slices of the
super-network's (the first heads of each layer, the first feed-forward units), copied by `extract_subnet`.

Parameter names are Hugging Face's ``BertForSequenceClassification`` names (``bert.embeddings.word_embeddings.weight``,
``bert.encoder.layer.0.attention.self.query.weight``, ..., ``bert.pooler.dense.weight``, ``classifier.weight``), which
the reference's super-network checkpoint uses too: `load_checkpoint` reads it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neural_nas.supernets._weights import check_state_dict, read_state_dict
from neural_nas.supernets.text.bert_shape import BertShape

# Buffers some Hugging Face versions save with the weights; they hold no learned values.
_IGNORED_KEYS = ("bert.embeddings.position_ids",)
# Prefixes of wrapped models (DataParallel, training scripts) in front of the Hugging Face names.
_WRAPPER_PREFIXES = ("module.", "model.")


class BertEmbeddings(nn.Module):
    def __init__(self, shape: BertShape) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(shape.vocab_size, shape.hidden_size)
        self.position_embeddings = nn.Embedding(shape.max_position_embeddings, shape.hidden_size)
        self.token_type_embeddings = nn.Embedding(shape.type_vocab_size, shape.hidden_size)
        self.LayerNorm = nn.LayerNorm(shape.hidden_size, eps=shape.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, head_size: int) -> None:
        super().__init__()
        self.heads, self.head_size = heads, head_size
        self.query = nn.Linear(hidden, heads * head_size)
        self.key = nn.Linear(hidden, heads * head_size)
        self.value = nn.Linear(hidden, heads * head_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.heads, self.head_size).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size) + mask_bias
        context = scores.softmax(dim=-1) @ v
        return context.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.heads * self.head_size)


class BertDenseOutput(nn.Module):
    """A projection back to the hidden size, added to the residual and normalised."""

    def __init__(self, width: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(width, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, shape: BertShape, heads: int) -> None:
        super().__init__()
        self.self = BertSelfAttention(shape.hidden_size, heads, shape.head_size)
        self.output = BertDenseOutput(heads * shape.head_size, shape.hidden_size, shape.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask_bias), x)


class BertIntermediate(nn.Module):
    def __init__(self, hidden: int, ffn: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, ffn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # the exact (erf) GELU, as BERT was trained with


class BertLayer(nn.Module):
    def __init__(self, shape: BertShape, heads: int, ffn: int) -> None:
        super().__init__()
        self.attention = BertAttention(shape, heads)
        self.intermediate = BertIntermediate(shape.hidden_size, ffn)
        self.output = BertDenseOutput(ffn, shape.hidden_size, shape.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask_bias)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, shape: BertShape, heads: Sequence[int], ffn: Sequence[int]) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(shape, h, f) for h, f in zip(heads, ffn))

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, mask_bias)
        return x


class BertPooler(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, shape: BertShape, heads: Sequence[int], ffn: Sequence[int]) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(shape)
        self.encoder = BertEncoder(shape, heads, ffn)
        self.pooler = BertPooler(shape.hidden_size)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        x = self.embeddings(input_ids, token_type_ids)
        # Padding positions get the most negative bias, so their attention weights are zero.
        keep = attention_mask[:, None, None, :].to(x.dtype)
        mask_bias = (1.0 - keep) * torch.finfo(x.dtype).min
        return self.pooler(self.encoder(x, mask_bias))


class BertClassifier(nn.Module):
    """BERT with a classification head; ``heads[i]`` and ``ffn[i]`` size layer ``i`` (their length: the layers).

    ``forward(input_ids, attention_mask, token_type_ids)`` -> logits ``(batch, num_labels)``."""

    def __init__(self, shape: BertShape, heads: Sequence[int], ffn: Sequence[int]) -> None:
        super().__init__()
        if len(heads) != len(ffn):
            raise ValueError(f"one head count and one feed-forward size per layer; got {list(heads)}, {list(ffn)}")
        self.shape, self.heads, self.ffn = shape, list(heads), list(ffn)
        self.bert = BertModel(shape, heads, ffn)
        self.classifier = nn.Linear(shape.hidden_size, shape.num_labels)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.classifier(self.bert(input_ids, attention_mask, token_type_ids))


def build_supernet(shape: BertShape, seed: int = 0) -> BertClassifier:
    """The super-network at its largest widths, initialised as BERT is (normal(0, 0.02) weights, zero biases) from a
    private seed: a randomly initialised super-network is the same in every run."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertClassifier(
            shape, [shape.num_heads] * shape.num_layers, [shape.intermediate_size] * shape.num_layers
        )
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
    return model.eval()


def extract_subnet(supernet: BertClassifier, num_layers: int, heads: Sequence[int], ffn: Sequence[int]) -> nn.Module:
    """A standalone `BertClassifier` of the first ``num_layers`` layers, with ``heads[i]`` heads and ``ffn[i]``
    feed-forward units in layer ``i``; its tensors are copies of the super-network's leading slices."""
    shape = supernet.shape
    heads, ffn = list(heads[:num_layers]), list(ffn[:num_layers])
    if not 1 <= num_layers <= len(supernet.heads):
        raise ValueError(f"num_layers {num_layers} is not in [1, {len(supernet.heads)}]")
    for i, (h, f) in enumerate(zip(heads, ffn)):
        if not (1 <= h <= supernet.heads[i] and 1 <= f <= supernet.ffn[i]):
            raise ValueError(f"layer {i}: {h} heads and {f} units exceed the super-network's")
    with torch.device("meta"):
        subnet = BertClassifier(shape, heads, ffn)
    source = supernet.state_dict()
    # Every tensor of the sub-network is the leading block of the super-network's tensor of the same name (query,
    # key and value rows; attention output and feed-forward output columns; feed-forward rows).
    state = {
        name: source[name][tuple(slice(0, n) for n in target.shape)].clone()
        for name, target in subnet.state_dict().items()
    }
    subnet.load_state_dict(state, assign=True)
    return subnet.eval()


def _normalise_names(state: Mapping[str, Any]) -> dict[str, Any]:
    """Hugging Face ``BertForSequenceClassification`` names: wrapper prefixes removed, a bare ``BertModel``'s
    ``embeddings.`` / ``encoder.`` / ``pooler.`` names put under ``bert.``."""
    out = {}
    for name, value in state.items():
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
        if name.split(".", 1)[0] in ("embeddings", "encoder", "pooler"):
            name = "bert." + name
        out[name] = value
    return out


def load_checkpoint(model: BertClassifier, path: Path, description: str) -> None:
    """Load ``path`` (`_weights.read_state_dict`: ``{'model': state dict}`` as the reference saves it, or
    ``{'state_dict': ...}``, or a plain state dict), names normalised to Hugging Face's: every tensor present, none left
    over, every shape equal, or one ConfigError that lists what differs (before anything is copied)."""
    state = read_state_dict(path, description)
    state = {k: v for k, v in _normalise_names(state).items() if k not in _IGNORED_KEYS}
    check_state_dict(model, state, path, description)
    model.load_state_dict(state)
