"""A translation sub-network as a runtime runs it: an encoder graph and a one-step decoder graph with its cache.

``encoder``: ``src_tokens`` (N, S; left-padded with PAD, ending with the end-of-sentence id) -> per decoder layer
``i``, what its encoder attention reads, computed once per sentence: ``memory_pad_i`` (N, M_i; True at padding) and
the keys and values ``cross_k_i``, ``cross_v_i`` (N, M_i, Q), where M_i is S times (1 + the extra encoder layers the
layer attends to).

``decoder_step``: the last target token (N, 1), the ``step`` (1,; 0 for the first token, the end-of-sentence id that
starts every target), the encoder's outputs as they came, and the self-attention cache ``self_k_i``, ``self_v_i``
(N, slots, Q; zeros before the first step) -> the next token's log-probabilities (N, V) and the cache with this
step's keys and values written into slot ``step``. The cache has a fixed number of slots (the longest
translation the library's beam search makes, plus one), so the graph has no growing shapes; slots after ``step`` are
masked.

`examples/translate_exported.py` runs greedy decoding on these graphs with onnxruntime only or torch only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from neural_nas.supernets.graphs import Graph
from neural_nas.supernets.translation.beam import BeamSettings
from neural_nas.supernets.translation.data import EOS, PAD
from neural_nas.supernets.translation.model import SlotCache, Transformer


def cache_slots(max_positions: int) -> int:
    """Target positions the cache holds: the longest translation of the library's beam search (its settings), plus
    the end-of-sentence token that starts it."""
    return min(BeamSettings().max_len_b, max_positions - 1) + 1


class EncoderGraph(nn.Module):
    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, src_tokens: Tensor) -> tuple[Tensor, ...]:
        enc = self.model.encode(src_tokens)
        pad = src_tokens.eq(PAD)  # always a mask (the model drops an all-False one)
        out = []
        for layer in self.model.decoder_layers:
            memory, _ = enc.memory(layer.extra)
            out.extend([torch.cat([pad] * (1 + layer.extra), dim=1), *layer.encoder_attn.kv_proj(memory).chunk(2, -1)])
        return tuple(out)


class DecoderStepGraph(nn.Module):
    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model
        self.slots = cache_slots(model.max_positions)

    def forward(self, token: Tensor, step: Tensor, *caches: Tensor) -> tuple[Tensor, ...]:
        model, n_layers = self.model, len(self.model.decoder_layers)
        memory, own = caches[: 3 * n_layers], caches[3 * n_layers :]
        dd = model.subnet_shape.decoder_embed_dim
        positions = (step + PAD + 1).view(1, 1).expand(token.size(0), 1)
        x = model._embed(token, positions, dd, model.decoder_positions)
        slots = torch.arange(self.slots, device=token.device)
        write, hidden = slots == step, (slots > step)[None, None, :]
        out = []
        for i, layer in enumerate(model.decoder_layers):
            pad, k, v = memory[3 * i : 3 * i + 3]
            cache = SlotCache(own[2 * i], own[2 * i + 1], write)
            x = layer(x, k, pad[:, None, :], hidden, {"self": cache, "cross": {"k": k, "v": v}})
            out.extend([cache.k, cache.v])
        logits = nn.functional.linear(x[:, -1], model.embed_tokens.weight[:, :dd])
        return (torch.log_softmax(logits.float(), dim=-1), *out)


def translation_graphs(model: Transformer, sentence_length: int) -> list[Graph]:
    """The two graphs of ``model``, traced on sentences of ``sentence_length`` tokens; their parity check feeds
    sentences of random lengths (some padded) and steps anywhere in the cache."""
    model = model.eval()
    encoder, step = EncoderGraph(model), DecoderStepGraph(model)
    n_layers, vocab = len(model.decoder_layers), model.embed_tokens.num_embeddings
    qkv = model.decoder_layers[0].self_attn.in_proj_weight.shape[0] // 3 if n_layers else 0

    def sentences(rng: np.random.Generator, batch: int, length: int) -> Tensor:
        tokens = torch.from_numpy(rng.integers(EOS + 1, vocab, (batch, length)))
        tokens[:, -1] = EOS
        for row, pad in enumerate(rng.integers(0, length - 1, batch)):  # left-padded, as the data's batches
            tokens[row, :pad] = PAD
        return tokens

    def step_inputs(rng: np.random.Generator, batch: int, length: int) -> tuple[Tensor, ...]:
        with torch.no_grad():
            memory = encoder(sentences(rng, batch, length))
        token = torch.from_numpy(rng.integers(EOS, vocab, (batch, 1)))
        at = torch.tensor([int(rng.integers(0, step.slots))])
        shape = (batch, step.slots, qkv)
        own = [torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) for _ in range(2 * n_layers)]
        return (token, at, *memory, *own)

    def random_sentences(rng: np.random.Generator) -> tuple[Tensor]:
        return (sentences(rng, int(rng.integers(1, 5)), int(rng.integers(3, sentence_length + 1))),)

    def random_steps(rng: np.random.Generator) -> tuple[Tensor, ...]:
        return step_inputs(rng, int(rng.integers(1, 5)), int(rng.integers(3, sentence_length + 1)))

    memory_names = [f"{part}_{i}" for i in range(n_layers) for part in ("memory_pad", "cross_k", "cross_v")]
    own_names = [f"self_{kv}_{i}" for i in range(n_layers) for kv in "kv"]
    memory_axes = {name: {0: "batch", 1: f"memory_length_{name.rpartition('_')[2]}"} for name in memory_names}
    rng = np.random.default_rng(0)
    return [
        Graph(
            name="encoder",
            module=encoder,
            inputs=(sentences(rng, 2, sentence_length),),
            input_names=("src_tokens",),
            output_names=tuple(memory_names),
            samples=random_sentences,
            dynamic={"src_tokens": {0: "batch", 1: "source_length"}},
            bounds={"source_length": (2, model.max_positions)},
        ),
        Graph(
            name="decoder_step",
            module=step,
            inputs=step_inputs(rng, 2, sentence_length),
            input_names=("token", "step", *memory_names, *own_names),
            output_names=("log_probs", *(f"new_{name}" for name in own_names)),
            samples=random_steps,
            dynamic={"token": {0: "batch"}, **memory_axes, **{name: {0: "batch"} for name in own_names}},
        ),
    ]
