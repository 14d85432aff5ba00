"""Measuring a Transformer-LT sub-network: exact MACs/params, latency as the reference times it, BLEU on the test set.

Built once per search (`TranslationMeasurer`); the test split is read, checked and batched then, before the
super-network is built, so a data folder in the wrong layout (or no sacrebleu / sacremoses) fails first. Only the
sub-network's own code is wrapped in `measuring` (its extraction, and its calls through `TranslationCode`): a failure
there is that sub-network's; the beam search, BLEU and timing around them are the library's and stop the search.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from neural_nas.errors import ConfigError, measuring
from neural_nas.measurements.context import DATA_KEY, MeasureContext, say_evaluation_size
from neural_nas.measurements.pipeline import SubnetCode, exact_and_missing, extract
from neural_nas.measurements.racing import Race, Sampled, Stopped
from neural_nas.supernets.translation.data import PAD, ParallelSplit, load_split

logger = logging.getLogger("neural_nas")

SOURCE_LANG, TARGET_LANG = "en", "de"
TEST_SPLIT = "test"
# The reference's timing input: one sentence of ``sentence_length`` tokens, 5 beams, one decoder step per token.
DUMMY_TOKEN = 7
LATENCY_BEAM = 5


def dummy_sentence(sentence_length: int, device: Any = "cpu") -> tuple[Any, Any]:
    """``(src_tokens, prev_output_tokens)`` (1, ``sentence_length``) each: the sentence the reference times (and
    counts MACs on), its tokens all ``DUMMY_TOKEN`` but one end-of-sentence mark."""
    import torch

    from neural_nas.supernets.translation.data import EOS

    src = torch.tensor([[EOS] + [DUMMY_TOKEN] * (sentence_length - 1)], device=device)
    prev = torch.tensor([[DUMMY_TOKEN] * (sentence_length - 1) + [EOS]], device=device)
    return src, prev


def bleu_batches(split: ParallelSplit, fraction: float, batch_size: int, seed: int) -> list[list[int]]:
    """Sentence indices per batch: a seeded ``fraction`` of the test set (all of it at 1.0), ordered as fairseq
    orders it for generation (by source length, then target length), cut into batches of ``batch_size``."""
    from neural_nas.measurements.accuracy import seeded_subset

    chosen = seeded_subset(len(split.source), fraction, seed)
    src_len = np.array([len(split.source[i]) for i in chosen])
    tgt_len = np.array([len(split.target[i]) for i in chosen])
    ordered = chosen[np.lexsort((chosen, tgt_len, src_len))]
    return [ordered[i : i + batch_size].tolist() for i in range(0, len(ordered), batch_size)]


def left_padded(sentences: list[np.ndarray]) -> np.ndarray:
    """A (B, S) batch padded on the left, as fairseq feeds sources to the encoder."""
    width = max(len(s) for s in sentences)
    out = np.full((len(sentences), width), PAD, dtype=np.int64)
    for row, s in enumerate(sentences):
        out[row, width - len(s) :] = s
    return out


def _trimmed(times_ms: np.ndarray) -> np.ndarray:
    """The middle 80 % of sorted timings (the reference drops the fastest and slowest 10 %, at least the slowest)."""
    times_ms = np.sort(times_ms)
    cut = int(len(times_ms) * 0.1)
    top = len(times_ms) - max(1, cut) if len(times_ms) > 1 else len(times_ms)
    return times_ms[cut:top]


def measure_translation_latency(
    model: Any, sentence_length: int, device: str, warmup: int, steps: int
) -> tuple[float, float]:
    """Milliseconds (mean, std): encoder on one sentence, plus ``sentence_length`` incremental decoder steps on
    ``LATENCY_BEAM`` beams; each part's timings trimmed, their means and standard deviations added, as the
    reference does. ``model``'s own failures are its (`TranslationCode`); the timing is the library's."""
    import torch

    from neural_nas.measurements.latency import timings_ms
    from neural_nas.supernets.translation.model import DecoderState

    src, prev = dummy_sentence(sentence_length, device)
    prev = prev.expand(LATENCY_BEAM, -1)
    model.to(device).eval()
    encoder_ms = timings_ms(lambda: model.encode(src), warmup=warmup, steps=steps, device=device)
    with torch.inference_mode():
        enc = model.encode(src).select(torch.zeros(LATENCY_BEAM, dtype=torch.long, device=device))

    def decode_all() -> None:
        state = DecoderState()
        for k in range(sentence_length):
            model.decode(prev[:, : k + 1], enc, state)

    decoder_ms = timings_ms(decode_all, warmup=warmup, steps=steps, device=device)
    enc_ms, dec_ms = _trimmed(encoder_ms), _trimmed(decoder_ms)
    return float(enc_ms.mean() + dec_ms.mean()), float(enc_ms.std() + dec_ms.std())


class TranslationCode(SubnetCode):
    """An extracted `Transformer` whose own calls (``encode``, ``decode``, ``decode_step`` and the forward pass) report
    their errors as that sub-network's `MeasurementError`; the beam search and the timing around them are the
    library's, and an error there stops the search."""

    @property
    def max_positions(self) -> int:
        return self.module.max_positions

    def encode(self, *args: Any) -> Any:
        with measuring(self.subnet):
            return self.module.encode(*args)

    def decode(self, *args: Any) -> Any:
        with measuring(self.subnet):
            return self.module.decode(*args)

    def decode_step(self, *args: Any) -> Any:
        with measuring(self.subnet):
            return self.module.decode_step(*args)


class TranslationMeasurer:
    """Callable: encoded sub-network dict -> ``{metric: value}`` (exact MACs/params always, then what is asked)."""

    def __init__(self, supernet: Any, ctx: MeasureContext) -> None:
        self.supernet = supernet
        self.metrics = list(ctx.metrics)
        self.device = ctx.device
        conf = ctx.conf
        self.latency_warmup, self.latency_steps = conf.latency_warmup, conf.latency_steps
        space = supernet.space
        self.latency_input = {"sentence_length": space.sentence_length, "beams": LATENCY_BEAM}
        self.split: ParallelSplit | None = None
        self.batches: list[list[int]] = []
        self.sources: list[Any] = []
        if "bleu" in self.metrics:
            from neural_nas.supernets.translation.bleu import require

            require()
            if conf.dataset_path is None:
                raise ConfigError(
                    DATA_KEY,
                    None,
                    "a fairseq data-bin folder of WMT'14 En-De (dict.en.txt, dict.de.txt, test.en-de.en/.de .bin/"
                    ".idx) to measure BLEU on",
                )
            split = load_split(conf.dataset_path, TEST_SPLIT, SOURCE_LANG, TARGET_LANG)
            for lang, dictionary in ((SOURCE_LANG, split.src_dict), (TARGET_LANG, split.tgt_dict)):
                if len(dictionary) != space.vocab_size:
                    raise ConfigError(
                        DATA_KEY,
                        conf.dataset_path,
                        f"data binarized with the super-network's joined dictionary of {space.vocab_size} symbols",
                        f"dict.{lang}.txt gives {len(dictionary)} (with the 4 special symbols)",
                    )
            longest = max(len(s) for s in split.source)
            if longest > space.max_positions:
                raise ConfigError(
                    DATA_KEY,
                    conf.dataset_path,
                    f"test sentences of at most {space.max_positions} tokens (the network's positions)",
                    f"the longest source sentence has {longest}",
                )
            import torch

            self.split = split
            self.batches = bleu_batches(split, conf.test_fraction, conf.eval_batch_size, ctx.seed)
            # Built once: every sub-network translates the same padded batches.
            self.sources = [
                torch.as_tensor(left_padded([split.source[i] for i in batch]), device=self.device)
                for batch in self.batches
            ]
            n, batches = sum(map(len, self.batches)), len(self.batches)
            say_evaluation_size("BLEU", n, "test sentences", f" in {batches} batches of up to {conf.eval_batch_size}")

    # Racing (`neural_nas.measurements.racing`) evaluates whole test batches in stages: BLEU is their mean.
    raced_metric = "bleu"

    def __call__(self, subnet: Mapping[str, Any], race: Race | None = None) -> dict[str, float] | Stopped:
        out, missing = exact_and_missing(self.supernet, subnet, self.metrics)
        if not missing:
            return out
        model = extract(self.supernet, subnet, self.device, TranslationCode)
        if "latency" in missing:
            mean, std = measure_translation_latency(
                model, self.supernet.space.sentence_length, self.device, self.latency_warmup, self.latency_steps
            )
            out["latency"] = mean
            logger.debug("latency %.3f ms (std %.3f ms) for %s", mean, std, dict(subnet))
        if "bleu" in missing:
            if race is None:
                out["bleu"] = self.bleu(model)
                return out
            sampled = Sampled(
                "bleu",
                len(self.batches),
                lambda batches: self.batch_scores(model, batches),
                whole=lambda scores: float(np.mean(scores)),
                binary=False,
                high=100.0,
            )
            result = race.run(sampled, out)
            if isinstance(result, Stopped):
                return result
            out["bleu"] = result
        return out

    def batch_scores(self, model: Any, batches: np.ndarray) -> np.ndarray:
        """The BLEU of each test batch of ``batches`` (indices), translated by the beam search."""
        from neural_nas.supernets.translation.beam import beam_search
        from neural_nas.supernets.translation.bleu import sentences_bleu

        assert self.split is not None
        scores = []
        for b in batches:
            hyps = beam_search(model, self.sources[b])
            refs = [self.split.target[i].tolist() for i in self.batches[b]]
            scores.append(sentences_bleu(hyps, refs, self.split.tgt_dict, TARGET_LANG))
        return np.array(scores, dtype=float)

    def bleu(self, model: Any) -> float:
        """BLEU of the beam search's translations of the test batches: the mean of each batch's corpus BLEU (the
        reference's convention, `bleu.batch_bleu`)."""
        return float(np.mean(self.batch_scores(model, np.arange(len(self.batches)))))
