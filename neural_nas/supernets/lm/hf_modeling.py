"""Hugging Face model classes for a sub-network whose layers have different widths; written by neural_nas into an
exported model folder (as ``modeling_pruned.py``) and loaded by transformers, never importing neural_nas:

    AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)

Hugging Face configs give every layer the same number of heads and MLP channels. The folder's ``config.json`` is the
original model's, with ``num_hidden_layers`` (``n_layer``) the layers kept, an ``auto_map`` naming the class below
and ``pruned_layers``: per layer, the key/value groups (GPT-2: heads) and MLP channels it keeps. Each class is the
family's own, whose projections are resized per layer before the weights are loaded; head size, hidden size and
vocabulary are the original model's, so the family's attention and MLP code run unchanged.
"""

from torch import nn
from transformers import (
    GPT2LMHeadModel,
    LlamaForCausalLM,
    MistralForCausalLM,
    Qwen2ForCausalLM,
    Qwen3ForCausalLM,
)
from transformers.pytorch_utils import Conv1D


def _linear(old, rows=None, columns=None):
    return nn.Linear(columns or old.in_features, rows or old.out_features, bias=old.bias is not None)


def _resize_llama(model, layers):
    for layer, spec in zip(model.model.layers, layers):
        attn, mlp = layer.self_attn, layer.mlp
        query = spec["kv_heads"] * attn.num_key_value_groups * attn.head_dim
        key = spec["kv_heads"] * attn.head_dim
        attn.q_proj = _linear(attn.q_proj, rows=query)
        attn.k_proj = _linear(attn.k_proj, rows=key)
        attn.v_proj = _linear(attn.v_proj, rows=key)
        attn.o_proj = _linear(attn.o_proj, columns=query)
        mlp.gate_proj = _linear(mlp.gate_proj, rows=spec["mlp_channels"])
        mlp.up_proj = _linear(mlp.up_proj, rows=spec["mlp_channels"])
        mlp.down_proj = _linear(mlp.down_proj, columns=spec["mlp_channels"])


def _resize_gpt2(model, layers):
    hidden = model.config.n_embd
    for block, spec in zip(model.transformer.h, layers):
        width = spec["kv_heads"] * block.attn.head_dim
        block.attn.c_attn = Conv1D(3 * width, hidden)
        block.attn.c_proj = Conv1D(hidden, width)
        block.attn.split_size, block.attn.num_heads = width, spec["kv_heads"]
        block.mlp.c_fc = Conv1D(spec["mlp_channels"], hidden)
        block.mlp.c_proj = Conv1D(hidden, spec["mlp_channels"])


def _pruned(base, resize):
    class Pruned(base):
        def __init__(self, config):
            super().__init__(config)
            resize(self, config.pruned_layers)
            self.post_init()

    Pruned.__name__ = Pruned.__qualname__ = f"Pruned{base.__name__}"
    return Pruned


PrunedLlamaForCausalLM = _pruned(LlamaForCausalLM, _resize_llama)
PrunedMistralForCausalLM = _pruned(MistralForCausalLM, _resize_llama)
PrunedQwen2ForCausalLM = _pruned(Qwen2ForCausalLM, _resize_llama)
PrunedQwen3ForCausalLM = _pruned(Qwen3ForCausalLM, _resize_llama)
PrunedGPT2LMHeadModel = _pruned(GPT2LMHeadModel, _resize_gpt2)
