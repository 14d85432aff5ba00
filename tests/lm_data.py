"""Tiny Hugging Face decoder models and generated text, in the exact formats of real ones (tests, benchmarks).

`make_model_dir` writes what a downloaded model folder holds: ``config.json``, ``model.safetensors`` and a fast
tokenizer (``tokenizer.json`` and its config), here a word-level tokenizer over the generated text's words.
`generated_text` writes sentences of a small random grammar: enough structure for a small model to learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = {
    "subject": ["the cat", "a dog", "my friend", "the teacher", "our neighbour", "the old man", "a child", "the bird"],
    "verb": ["sees", "likes", "finds", "follows", "calls", "helps", "watches", "meets"],
    "object": ["the ball", "a house", "the river", "some bread", "the garden", "a letter", "the door", "a song"],
    "place": ["in the park", "at home", "near the sea", "after school", "in the morning", "on the hill"],
}


def generated_text(n_sentences: int, seed: int = 0) -> str:
    """Sentences ``subject verb object [place] .``, one per line; a subject's verb follows from it half the time."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_sentences):
        s = int(rng.integers(len(WORDS["subject"])))
        v = s if rng.random() < 0.5 else int(rng.integers(len(WORDS["verb"])))
        o = (s + v) % len(WORDS["object"])
        words = [WORDS["subject"][s], WORDS["verb"][v], WORDS["object"][o]]
        if rng.random() < 0.5:
            words.append(WORDS["place"][(v + o) % len(WORDS["place"])])
        lines.append(" ".join(words) + " .")
    return "\n".join(lines) + "\n"


def write_text_folder(folder: Path, train: int = 400, valid: int = 100, seed: int = 0) -> Path:
    """A data folder for ``hf_causal_lm``: ``train.txt`` and ``valid.txt`` of generated sentences."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text(generated_text(train, seed), encoding="utf-8")
    (folder / "valid.txt").write_text(generated_text(valid, seed + 1), encoding="utf-8")
    return folder


def write_tokenizer(folder: Path) -> None:
    """A word-level fast tokenizer over every word of the grammar (plus unknown and end-of-text tokens)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<eos>": 1, ".": 2}
    for phrases in WORDS.values():
        for phrase in phrases:
            for word in phrase.split():
                vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="<eos>")
    fast.save_pretrained(folder)


def tiny_config(family: str, vocab: int = 64, layers: int = 3):
    """A small config of ``family``: ``gpt2``, or grouped-query attention in ``llama``, ``mistral``, ``qwen2`` (with
    query/key/value biases) and ``qwen3`` (per-head query/key norms, tied output layer)."""
    from transformers import GPT2Config, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

    if family == "gpt2":
        return GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=layers, n_head=4, n_inner=64)
    cls = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config, "qwen3": Qwen3Config}[family]
    return cls(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=64,
        tie_word_embeddings=family == "qwen3",
    )


def make_model_dir(folder: Path, family: str = "llama", layers: int = 3, seed: int = 0, model=None) -> Path:
    """A model folder with random weights (or ``model``'s) of a tiny ``family`` model, safetensors weights."""
    import torch
    from transformers import AutoModelForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    if model is None:
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(tiny_config(family, layers=layers))
    model.save_pretrained(folder, safe_serialization=True)
    write_tokenizer(folder)
    return folder
