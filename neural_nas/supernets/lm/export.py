"""An exported language sub-network: one graph (token ids in, logits out) and the Hugging Face model folder.

The graph runs in every format of `neural_nas.export.formats` (dynamic batch and sequence length, up to the model's
positions). The ``hf`` format writes the folder a Hugging Face user loads with ``AutoModelForCausalLM.from_pretrained``:
weights in ``model.safetensors``, the tokenizer's files and ``config.json``. When every kept layer has the same widths
the config is the family's own with those widths (no custom code); otherwise each layer's widths go into the config's
``pruned_layers`` and ``modeling_pruned.py`` (`neural_nas.supernets.lm.hf_modeling`, which needs transformers only)
resizes each layer: load it with ``trust_remote_code=True``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neural_nas.errors import ConfigError
from neural_nas.supernets.graphs import Graph
from neural_nas.supernets.lm.shape import LMShape
from neural_nas.supernets.lm.surgery import decoder_layers

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
    "generation_config.json",
)
MODELING_FILE = "modeling_pruned.py"
# The class of `hf_modeling` that resizes each family's layers.
PRUNED_CLASS = {
    "gpt2": "PrunedGPT2LMHeadModel",
    "llama": "PrunedLlamaForCausalLM",
    "mistral": "PrunedMistralForCausalLM",
    "qwen2": "PrunedQwen2ForCausalLM",
    "qwen3": "PrunedQwen3ForCausalLM",
}


class LanguageModelLogits(nn.Module):
    """A Hugging Face causal LM as a graph: ``input_ids`` -> ``logits``, no cache. Keeps what the ``hf`` format
    needs to write the model folder: the model, its shape and the folder its tokenizer comes from."""

    def __init__(self, model: nn.Module, shape: LMShape, source: Path) -> None:
        super().__init__()
        self.model, self.shape, self.source = model, shape, source

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, use_cache=False).logits


def lm_graphs(supernet: Any, module: nn.Module) -> list[Graph]:
    """The one graph of a language sub-network (``module``: the HF model from `standalone`)."""
    shape: LMShape = supernet.shape
    wrapper = LanguageModelLogits(module.eval(), shape, supernet.model_dir)
    generator = torch.Generator().manual_seed(0)
    inputs = (torch.randint(0, shape.vocab, (2, 8), generator=generator),)

    def samples(rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        batch, tokens = int(rng.integers(1, 4)), int(rng.integers(2, min(shape.positions, 24) + 1))
        return (torch.from_numpy(rng.integers(0, shape.vocab, (batch, tokens))),)

    return [
        Graph(
            name="subnet",
            module=wrapper,
            inputs=inputs,
            input_names=("input_ids",),
            output_names=("logits",),
            samples=samples,
            dynamic={"input_ids": {0: "batch", 1: "sequence"}},
            bounds={"sequence": (2, shape.positions)},
        )
    ]


def layer_widths(model: nn.Module, shape: LMShape) -> list[dict[str, int]]:
    """Per kept layer of a sub-network: its key/value groups and MLP channels."""
    widths = []
    for layer in decoder_layers(model, shape):
        if shape.family == "gpt2":
            heads = layer.attn.split_size // shape.head_dim
            widths.append({"kv_heads": heads, "mlp_channels": layer.mlp.c_fc.weight.shape[1]})
        else:
            kv = layer.self_attn.k_proj.out_features // shape.head_dim
            widths.append({"kv_heads": kv, "mlp_channels": layer.mlp.gate_proj.out_features})
    return widths


def folder_config(config: dict[str, Any], shape: LMShape, widths: list[dict[str, int]]) -> dict[str, Any]:
    """``config.json`` of the exported folder (the module docstring): uniform widths in the family's own keys when
    they can say them, else ``pruned_layers`` and an ``auto_map`` to ``modeling_pruned.py``."""
    config = {k: v for k, v in config.items() if k not in ("auto_map", "pruned_layers", "architectures")}
    uniform = len({(w["kv_heads"], w["mlp_channels"]) for w in widths}) <= 1
    first = widths[0] if widths else {"kv_heads": shape.kv_heads, "mlp_channels": shape.intermediate}
    kv, channels = first["kv_heads"], first["mlp_channels"]
    if shape.family == "gpt2":
        config["n_layer"] = len(widths)
        native = uniform and kv == shape.heads  # GPT-2 derives the head size from n_head: heads cannot be cut
        if native:
            config["n_inner"] = channels
    else:
        config["num_hidden_layers"] = len(widths)
        native = uniform
        if native:
            config.update(
                num_key_value_heads=kv,
                num_attention_heads=kv * shape.group_size,
                intermediate_size=channels,
                head_dim=shape.head_dim,
            )
    if "layer_types" in config and config["layer_types"] is not None:
        config["layer_types"] = config["layer_types"][: len(widths)]
    if not native:
        config["pruned_layers"] = widths
        config["auto_map"] = {"AutoModelForCausalLM": f"{MODELING_FILE[:-3]}.{PRUNED_CLASS[shape.model_type]}"}
    return config


def write_hf_folder(graph: Graph, path: Path) -> None:
    """The ``hf`` format's writer: the model folder of a language sub-network's graph (the module docstring)."""
    wrapper = graph.module
    if not isinstance(wrapper, LanguageModelLogits):
        raise ConfigError("--format", "hf", "a format of this super-network's graphs (hf: language models only)")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    wrapper.model.save_pretrained(path, safe_serialization=True)
    written = json.loads((path / "config.json").read_text(encoding="utf-8"))
    config = folder_config(written, wrapper.shape, layer_widths(wrapper.model, wrapper.shape))
    if "auto_map" in config:
        shutil.copyfile(Path(__file__).with_name("hf_modeling.py"), path / MODELING_FILE)
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for name in TOKENIZER_FILES:
        if (wrapper.source / name).is_file() and not (path / name).exists():
            shutil.copyfile(wrapper.source / name, path / name)


def run_hf_folder(path: Path):
    """The ``hf`` format's runner: the folder loaded as its user loads it, returning the logits."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True, dtype=torch.float32).eval()

    def run(input_ids: torch.Tensor) -> list[np.ndarray]:
        with torch.no_grad():
            return [model(input_ids=input_ids, use_cache=False).logits.numpy()]

    return run
