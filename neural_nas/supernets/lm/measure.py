"""Measuring a language sub-network: perplexity on plain text, prefill and per-token decode latency.

Text: ``dataset_path`` is a folder with ``train.txt`` (calibration text for the importance scores) and ``valid.txt``
(perplexity), plain UTF-8, tokenized whole by the model's own tokenizer (``tokenizer.json`` and its config in the
model folder).

Perplexity: ``exp`` of the mean negative log-likelihood of the tokens of ``valid.txt`` (its first ``test_fraction``),
each predicted from the tokens before it. Windows of ``sequence_length`` tokens move by half a window (the stride):
every token after the first is scored exactly once, in the first window that reaches it, with at least half a window
of context except in the first window (Hugging Face's sliding-window recipe).

Latency, on ``batch_size`` sequences: ``latency`` is the prefill of ``sequence_length`` tokens (ms per batch);
``decode_latency`` is one more token with the key/value cache of that prefill (ms per token step of the batch).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from neural_nas.errors import ConfigError

DATA_FILES = ("train.txt", "valid.txt")
# Logit values one perplexity batch may hold (about 1 GB in float32): a 150,000-token vocabulary takes one window of
# 1,700 tokens at a time, whatever nas.dynas.eval_batch_size says.
LOGITS_PER_BATCH = 2**28


def text_file(dataset_path: str | None, name: str, why: str) -> Path:
    """``dataset_path/name``, a ConfigError naming what is missing."""
    if dataset_path is None:
        raise ConfigError("nas.dynas.dataset_path", None, f"a folder with {' and '.join(DATA_FILES)} ({why})")
    path = Path(dataset_path) / name
    if not path.is_file():
        raise ConfigError(
            "nas.dynas.dataset_path", dataset_path, f"a folder with {' and '.join(DATA_FILES)}", f"{path} is missing"
        )
    return path


def tokens_of(tokenizer, path: Path, fraction: float = 1.0) -> torch.Tensor:
    """The token ids of a whole text file (its first ``fraction`` of tokens), one long 1-D tensor."""
    ids = tokenizer(path.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"]
    ids = ids[: max(2, math.ceil(len(ids) * fraction))]
    return torch.tensor(ids, dtype=torch.long)


def sequences(ids: torch.Tensor, length: int, count: int) -> list[torch.Tensor]:
    """Up to ``count`` consecutive, non-overlapping sequences of ``length`` tokens (calibration)."""
    n = min(count, len(ids) // length)
    if n == 0:
        return [ids[None, :]] if len(ids) else []
    return list(ids[: n * length].reshape(n, length).split(1))


def scored_windows(n_tokens: int, window: int) -> Iterator[tuple[int, int, int]]:
    """``(begin, end, first)`` per window: tokens ``[begin, end)`` go in, the predictions of tokens ``first..end-1``
    count (the module docstring's stride of half a window)."""
    stride = max(1, window // 2)
    done = 1  # the first token has nothing to be predicted from
    begin = 0
    while done < n_tokens:
        end = min(begin + window, n_tokens)
        yield begin, end, done
        done = end
        begin += stride


@torch.no_grad()
def perplexity(model: nn.Module, ids: torch.Tensor, window: int, batch_size: int) -> float:
    """Perplexity of ``model`` on ``ids`` (the module docstring); windows of equal length run in batches."""
    device = next(model.parameters()).device
    windows = list(scored_windows(len(ids), window))
    vocab = model.get_output_embeddings().weight.shape[0]
    batch_size = max(1, min(batch_size, LOGITS_PER_BATCH // (window * vocab)))  # logits of a large vocabulary
    nll, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        group = windows[start : start + batch_size]
        by_length: dict[int, list[tuple[int, int, int]]] = {}
        for w in group:
            by_length.setdefault(w[1] - w[0], []).append(w)
        for same in by_length.values():
            batch = torch.stack([ids[b:e] for b, e, _ in same]).to(device)
            logits = model(input_ids=batch, use_cache=False).logits[:, :-1]
            target = batch[:, 1:]
            token_nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1), reduction="none"
            ).view(target.shape)  # [windows, length - 1]
            for row, (b, _e, first) in enumerate(same):
                scored = token_nll[row, first - b - 1 :]  # predictions of tokens first..e-1
                nll += float(scored.double().sum())
                count += scored.numel()
    return math.exp(nll / count)


def _timed(step, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps * 1000


@torch.no_grad()
def latencies(model: nn.Module, vocab: int, batch: int, tokens: int, warmup: int, steps: int) -> tuple[float, float]:
    """``(prefill ms, decode ms per token)`` of ``model`` (the module docstring), on fixed random tokens."""
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, vocab, (batch, tokens), generator=generator).to(device)
    prefill = _timed(lambda: model(input_ids=prompt, use_cache=False), warmup, steps)
    # transformers 5 renames the cache (``past_key_values`` still works, with a warning, until 5.40).
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    cache = getattr(model(input_ids=prompt, use_cache=True), name)
    token = prompt[:, -1:]

    def step() -> None:  # the cache grows by one token per step (the caller leaves room for warmup + steps)
        nonlocal cache
        cache = getattr(model(input_ids=token, use_cache=True, **{name: cache}), name)

    return prefill, _timed(step, warmup, steps)
