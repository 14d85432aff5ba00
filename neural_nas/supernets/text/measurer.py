"""Measuring a sub-network of a text classification super-network: exact MACs and params, then (extracted only when
asked for) latency on a padded token batch and accuracy on the tokenised dev split.

A data set that cannot be used fails when the measurer is built, before the super-network is built or loaded. The
extraction and the sub-network's forward passes run in `measuring` (`SubnetCode`): what fails there is that
sub-network's failure; the timing and the accuracy loop around them are the library's (an error there stops the
search).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from neural_nas.config.constraints import Interval
from neural_nas.measurements.context import MeasureContext, say_evaluation_size
from neural_nas.measurements.latency import time_calls
from neural_nas.measurements.pipeline import exact_and_missing, extract
from neural_nas.measurements.racing import Race, Sampled, Stopped
from neural_nas.supernets._weights import cache_dir
from neural_nas.supernets.text.sst2_data import load_dev_split

logger = logging.getLogger("neural_nas")

ACCURACY = "accuracy_sst2"


class TextClassificationMeasurer:
    """Callable: encoded sub-network dict -> ``{metric: value}``; ``accuracy_sst2`` is a fraction in [0, 1].

    ``supernet`` gives ``shape`` (its `BertShape`), ``max_seq_length``, ``lowercase``, `exact_metrics` and
    `active_subnet`. The dev split is tokenised once, here, and kept on the device: ``dev`` holds its token ids,
    attention mask, token types and labels (None when accuracy is not measured)."""

    def __init__(self, supernet: Any, ctx: MeasureContext) -> None:
        d = ctx.conf
        for key, value, low in (
            ("nas.dynas.batch_size", d.batch_size, 1),
            ("nas.dynas.eval_batch_size", d.eval_batch_size, 1),
            ("nas.dynas.latency_warmup", d.latency_warmup, 0),
            ("nas.dynas.latency_steps", d.latency_steps, 1),
        ):
            Interval(int, low, None, "left").validate(key, value)
        self.supernet, self.metrics, self.device = supernet, list(ctx.metrics), torch.device(ctx.device)
        self.batch_size, self.eval_batch_size = d.batch_size, d.eval_batch_size
        self.warmup, self.steps = d.latency_warmup, d.latency_steps
        self.seq_len = supernet.max_seq_length
        self.latency_input = {"sequence_length": self.seq_len, "input": "padded token batch"}
        self.dev: tuple[torch.Tensor, ...] | None = None
        if ACCURACY in self.metrics:
            split = load_dev_split(
                d.dataset_path,
                # The vocabulary may sit beside the checkpoint: the configured one, else the cached one.
                ckpt_path=d.supernet_ckpt_path or str(cache_dir() / supernet.weights_file),
                vocab_size=supernet.shape.vocab_size,
                num_labels=supernet.shape.num_labels,
                max_len=self.seq_len,
                lowercase=supernet.lowercase,
                test_fraction=d.test_fraction,
                seed=ctx.seed,
            )
            say_evaluation_size(
                "SST-2 accuracy", len(split.labels), "dev sentences", f" (sequence length {self.seq_len})"
            )
            self.dev = tuple(
                torch.as_tensor(a, device=self.device)
                for a in (split.input_ids, split.attention_mask, split.token_type_ids, split.labels)
            )

    raced_metric = ACCURACY  # racing (`neural_nas.measurements.racing`) evaluates the dev sentences in stages

    def __call__(self, subnet: Mapping[str, Any], race: Race | None = None) -> dict[str, float] | Stopped:
        out, missing = exact_and_missing(self.supernet, subnet, self.metrics)
        if not missing:
            return out
        module = extract(self.supernet, subnet, self.device).eval()
        if "latency" in missing:
            out["latency"], std = self.latency(module)
            logger.debug("latency %.3f ms (std %.3f ms) for %s", out["latency"], std, dict(subnet))
        if ACCURACY in missing:
            if race is None:
                out[ACCURACY] = self.accuracy(module)
                return out
            assert self.dev is not None
            sampled = Sampled(ACCURACY, len(self.dev[3]), lambda rows: self.outcomes(module, rows), _share_right)
            result = race.run(sampled, out)
            if isinstance(result, Stopped):
                return result
            out[ACCURACY] = result
        return out

    def latency(self, module: torch.nn.Module) -> tuple[float, float]:
        """``(mean, std)`` milliseconds of a forward pass of ``batch_size`` sequences of ``max_seq_length`` padding
        tokens, every position attended (the cost does not depend on the token values)."""
        shape = (self.batch_size, self.seq_len)
        ids = torch.zeros(shape, dtype=torch.long, device=self.device)
        mask = torch.ones(shape, dtype=torch.long, device=self.device)
        return time_calls(lambda: module(ids, mask, ids), warmup=self.warmup, steps=self.steps, device=self.device)

    def accuracy(self, module: torch.nn.Module) -> float:
        """Share of the dev sentences whose highest logit is their label."""
        assert self.dev is not None
        return _share_right(self.outcomes(module, np.arange(len(self.dev[3]))))

    def outcomes(self, module: torch.nn.Module, sentences: np.ndarray) -> np.ndarray:
        """Per dev sentence of ``sentences`` (indices, in order): 1 where its highest logit is its label, else 0.

        Each batch is cut after its longest sentence: padding positions are masked out of attention, so they change
        no prediction, and most SST-2 sentences are far shorter than ``max_seq_length``."""
        assert self.dev is not None
        ids, mask, types, labels = self.dev
        index = torch.as_tensor(np.asarray(sentences, dtype=np.int64), device=labels.device)
        right = []
        with torch.inference_mode():
            for start in range(0, len(index), self.eval_batch_size):
                rows = index[start : start + self.eval_batch_size]
                length = int(mask[rows].sum(dim=1).max())
                logits = module(ids[rows, :length], mask[rows, :length], types[rows, :length])
                right.append((logits.argmax(dim=-1) == labels[rows]).cpu().numpy())
        return np.concatenate(right).astype(np.int64) if right else np.empty(0, dtype=np.int64)


def _share_right(outcomes: np.ndarray) -> float:
    """SST-2 accuracy (a fraction) from per-sentence outcomes."""
    return int(outcomes.sum()) / len(outcomes)
