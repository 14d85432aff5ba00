"""BLEU as the reference reports it (fairseq's translation task, ``_inference_with_bleu``).

Hypotheses and references are turned into text with the target dictionary (``</s>`` dropped, BPE marks ``@@ ``
removed; an unknown word becomes a marker that never matches the other side's), detokenised with the Moses
detokeniser for the target language (sacremoses), and scored by sacrebleu's corpus BLEU with its default 13a
tokenisation. The reference scores each batch of test sentences separately and reports the mean of the batches'
BLEU: so does `batch_bleu`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from neural_nas.supernets.translation.data import Dictionary

HYP_UNK, REF_UNK = "UNKNOWNTOKENINHYP", "UNKNOWNTOKENINREF"
INSTALL = "pip install 'neural-nas[translation]'"


def require() -> None:
    """Fail now, with what to install, when BLEU cannot be computed (before a checkpoint is loaded and decoded)."""
    for module, role in (("sacrebleu", "BLEU"), ("sacremoses", "the Moses detokeniser")):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ImportError(f"BLEU needs {module} ({role}, as the reference scores): {INSTALL}") from err


@functools.cache
def _detokenizer(lang: str) -> Any:
    try:
        from sacremoses import MosesDetokenizer
    except ImportError as err:
        raise ImportError(f"BLEU needs sacremoses (the reference's Moses detokeniser): {INSTALL}") from err
    return MosesDetokenizer(lang=lang)


def detokenize(text: str, lang: str) -> str:
    return _detokenizer(lang).detokenize(text.split())


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus BLEU (13a tokenisation) of detokenised sentences."""
    try:
        import sacrebleu
    except ImportError as err:
        raise ImportError(f"BLEU needs sacrebleu: {INSTALL}") from err
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def batch_bleu(
    hypotheses: Sequence[Sequence[int]],
    references: Sequence[Sequence[int]],
    tgt_dict: Dictionary,
    batch_ids: Sequence[int],
    lang: str = "de",
) -> float:
    """Mean over batches of each batch's corpus BLEU; ``batch_ids[i]`` is sentence ``i``'s batch."""
    batch_ids = np.asarray(batch_ids)
    scores = [
        sentences_bleu(
            [hypotheses[i] for i in np.flatnonzero(batch_ids == b)],
            [references[i] for i in np.flatnonzero(batch_ids == b)],
            tgt_dict,
            lang,
        )
        for b in np.unique(batch_ids)
    ]
    return float(np.mean(scores))


def sentences_bleu(
    hypotheses: Sequence[Sequence[int]], references: Sequence[Sequence[int]], tgt_dict: Dictionary, lang: str = "de"
) -> float:
    """Corpus BLEU of token-id sentences (one batch of the reference's), as text detokenised for ``lang``."""
    hyp_text = [detokenize(tgt_dict.string(h, unk=HYP_UNK), lang) for h in hypotheses]
    ref_text = [detokenize(tgt_dict.string(r, unk=REF_UNK), lang) for r in references]
    return corpus_bleu(hyp_text, ref_text)
