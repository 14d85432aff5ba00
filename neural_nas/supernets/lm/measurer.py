"""The measurer of ``hf_causal_lm``: exact costs from the closed forms, the rest on the extracted sub-network.

Built once per search: the text files and the tokenizer are checked and ``valid.txt`` is tokenized here (a bad data
set fails before any measurement); the model is put in importance order on the first measurement that needs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from neural_nas.errors import measuring
from neural_nas.measurements.context import MeasureContext, say_evaluation_size
from neural_nas.measurements.pipeline import exact_and_missing

logger = logging.getLogger("neural_nas")


class LanguageModelMeasurer:
    """Callable: encoded sub-network dict -> ``{metric: value}`` (`neural_nas.supernets.lm.measure`)."""

    def __init__(self, supernet: Any, ctx: MeasureContext) -> None:
        from neural_nas.supernets.lm.measure import text_file, tokens_of

        self.supernet, self.ctx, self.metrics = supernet, ctx, list(ctx.metrics)
        d = ctx.conf
        self.window = supernet.sequence_length(d)
        self.eval_batch_size = d.eval_batch_size
        # Room in the position table for the decoding steps after the timed prefill.
        steps = d.latency_warmup + d.latency_steps
        self.prompt = max(1, min(self.window, supernet.shape.positions - steps))
        self.batch_size, self.warmup, self.steps = d.batch_size, d.latency_warmup, d.latency_steps
        self.latency_input = {"batch_size": d.batch_size, "prefill_tokens": self.prompt, "device": ctx.device}
        self.ids = None
        if "perplexity" in self.metrics:
            if getattr(d, "pretrained", True):
                supernet.check_weights()  # before the text is read: the cheaper mistake first
            valid = text_file(d.dataset_path, "valid.txt", "perplexity is measured on it")
            text_file(d.dataset_path, "train.txt", "its text scores which heads and channels matter")
            self.ids = tokens_of(supernet.tokenizer(), valid, d.test_fraction)
            say_evaluation_size("perplexity", len(self.ids) - 1, "predicted tokens", f" of {valid}")
        self.last_timings: dict[str, float] = {}

    def __call__(self, subnet: Mapping[str, Any]) -> dict[str, float]:
        from neural_nas.supernets.lm.measure import latencies, perplexity

        out, missing = exact_and_missing(self.supernet, subnet, self.metrics)
        if not missing:
            return out
        start = time.perf_counter()
        self.supernet.ordered(self.ctx)
        with measuring(subnet):
            model = self.supernet.active_subnet(subnet).to(self.ctx.device)
        self.last_timings = {"extract_s": time.perf_counter() - start}
        with measuring(subnet):
            if "perplexity" in missing:
                start = time.perf_counter()
                out["perplexity"] = perplexity(model, self.ids, self.window, self.eval_batch_size)
                self.last_timings["perplexity_s"] = time.perf_counter() - start
            if {"latency", "decode_latency"} & set(missing):
                prefill, decode = latencies(
                    model, self.supernet.shape.vocab, self.batch_size, self.prompt, self.warmup, self.steps
                )
                out["latency"], out["decode_latency"] = prefill, decode
        return out
