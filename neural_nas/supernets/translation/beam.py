"""Beam search as the reference generates translations (fairseq's sequence generator with its settings).

Settings: beam 5, length penalty 0.6 (a finished hypothesis scores its summed log-probability divided by its length,
``</s>`` included, to the power 0.6), at most ``max_len_a * source length + max_len_b`` = 200 tokens, at least one.
Each step ranks the 2 x beam best continuations of the live hypotheses; those ending in ``</s>`` among the first
``beam`` are finished, the first ``beam`` others live on. A sentence is done when ``beam`` hypotheses have finished;
its translation is the best-scoring one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from neural_nas.supernets.translation.data import EOS, PAD
from neural_nas.supernets.translation.model import DecoderState, Transformer


@dataclass(frozen=True)
class BeamSettings:
    beam: int = 5
    len_penalty: float = 0.6
    max_len_a: float = 0.0
    max_len_b: int = 200
    min_len: int = 1


@torch.inference_mode()
def beam_search(model: Transformer, src_tokens: Tensor, settings: BeamSettings = BeamSettings()) -> list[list[int]]:
    """The best translation (ids, without ``</s>``) of each row of ``src_tokens`` (B, S; left-padded with PAD)."""
    bsz, src_len = src_tokens.shape
    beam = settings.beam
    max_len = min(int(settings.max_len_a * src_len + settings.max_len_b), model.max_positions - 1)
    device = src_tokens.device
    order = torch.arange(bsz, device=device).repeat_interleave(beam)
    enc = model.encode(src_tokens).select(order)
    state = DecoderState()
    tokens = torch.full((bsz * beam, max_len + 2), PAD, dtype=torch.long, device=device)
    tokens[:, 0] = EOS
    scores = torch.zeros(bsz * beam, max_len + 1, device=device)
    sentence_ids = list(range(bsz))  # the original sentence of each live sentence row
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(bsz)]

    for step in range(max_len + 1):
        lprobs = model.decode_step(tokens[:, : step + 1], enc, state)
        lprobs[:, PAD] = float("-inf")
        if step >= max_len:  # only </s> is left
            eos_column = lprobs[:, EOS].clone()
            lprobs.fill_(float("-inf"))
            lprobs[:, EOS] = eos_column
        if step < settings.min_len:
            lprobs[:, EOS] = float("-inf")
        n, vocab = len(sentence_ids), lprobs.size(1)
        lprobs = lprobs.view(n, beam, vocab)
        # Every beam starts alike: the first step expands one; later ones add each hypothesis' score so far.
        lprobs = lprobs[:, :1] if step == 0 else lprobs + scores[:, step - 1].view(n, beam, 1)
        flat = lprobs.reshape(n, -1)
        cand_scores, cand_index = torch.topk(flat, k=min(2 * beam, flat.size(1) - 1))
        cand_beams = torch.div(cand_index, vocab, rounding_mode="floor")
        cand_tokens = cand_index % vocab
        is_eos = cand_tokens.eq(EOS) & cand_scores.ne(float("-inf"))

        done_rows = []
        for row in range(n):
            sentence = sentence_ids[row]
            for c in torch.nonzero(is_eos[row, :beam]).flatten().tolist():
                if len(finished[sentence]) < beam:
                    bb = row * beam + int(cand_beams[row, c])
                    score = float(cand_scores[row, c]) / (step + 1) ** settings.len_penalty
                    finished[sentence].append((score, tokens[bb, 1 : step + 1].tolist()))
            if len(finished[sentence]) >= beam or step == max_len:
                done_rows.append(row)
        if len(done_rows) == n:
            break

        # The first `beam` candidates that do not end the hypothesis live on, best first.
        rank = is_eos.long() * is_eos.size(1) + torch.arange(is_eos.size(1), device=device)
        keep_cand = torch.topk(rank, k=beam, dim=1, largest=False).indices
        keep_rows = [r for r in range(n) if r not in set(done_rows)]
        rows = torch.tensor(keep_rows, device=device, dtype=torch.long)
        chosen = keep_cand.index_select(0, rows)
        src_beams = torch.gather(cand_beams.index_select(0, rows), 1, chosen)
        new_order = (rows[:, None] * beam + src_beams).flatten()
        tokens = tokens.index_select(0, new_order)
        scores = scores.index_select(0, new_order)
        tokens[:, step + 1] = torch.gather(cand_tokens.index_select(0, rows), 1, chosen).flatten()
        scores[:, step] = torch.gather(cand_scores.index_select(0, rows), 1, chosen).flatten()
        enc = enc.select(new_order)
        state.select(new_order)
        sentence_ids = [sentence_ids[r] for r in keep_rows]

    return [max(hyps, key=lambda h: h[0])[1] if hyps else [] for hyps in finished]
