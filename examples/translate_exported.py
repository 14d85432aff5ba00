"""Translate with an exported Transformer-LT sub-network, without neural_nas: onnxruntime only, or torch only.

    neural-nas export RESULTS.csv --pick knee --format onnx --out my_subnet      # or --format pt2
    python examples/translate_exported.py my_subnet --runtime onnx --dicts DATA_BIN "das Haus ist klein"

The folder holds ``encoder.onnx`` and ``decoder_step.onnx`` (or ``.pt2``) and ``subnet.json``, whose
``input.decoding`` gives the special ids and the cache size. Greedy decoding, as the library's beam search with a
beam of one: the target starts with the end-of-sentence id; padding is never chosen; the end-of-sentence id is not
allowed first, and forced once the cache is full. The sentence is BPE pieces of ``dict.en.txt`` (``--dicts``: the
data-bin folder; fairseq's layout: ``<s> <pad> </s> <unk>`` take ids 0-3, then the file's symbols in order), or
space-separated ids without ``--dicts``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
Run = Callable[..., list[np.ndarray]]


def onnx_graphs(folder: Path) -> tuple[Run, Run]:
    import onnxruntime

    def session(name: str) -> Run:
        s = onnxruntime.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        names = [i.name for i in s.get_inputs()]
        return lambda *inputs: s.run(None, dict(zip(names, inputs)))

    return session("encoder"), session("decoder_step")


def torch_graphs(folder: Path) -> tuple[Run, Run]:
    import torch

    def program(name: str) -> Run:
        module = torch.export.load(folder / f"{name}.pt2").module()

        def run(*inputs: np.ndarray) -> list[np.ndarray]:
            with torch.no_grad():
                return [o.numpy() for o in module(*(torch.from_numpy(np.asarray(x)) for x in inputs))]

        return run

    return program("encoder"), program("decoder_step")


def greedy(encoder: Run, step: Run, card: dict, src_tokens: np.ndarray) -> list[list[int]]:
    """The target ids (without the end-of-sentence id) of each row of ``src_tokens`` (N, S; left-padded)."""
    decoding = card["input"]["decoding"]
    pad, eos, slots = decoding["pad"], decoding["eos"], decoding["cache_slots"]
    step_inputs = card["graphs"]["decoder_step"]["inputs"]
    n = len(src_tokens)
    memory = encoder(src_tokens.astype(np.int64))
    cache = [np.zeros((n, i["shape"][1], i["shape"][2]), np.float32) for i in step_inputs if i["name"][:5] == "self_"]
    token = np.full((n, 1), eos, dtype=np.int64)
    out: list[list[int]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    for t in range(slots):
        log_probs, *cache = step(token, np.array([t], dtype=np.int64), *memory, *cache)
        log_probs[:, pad] = -np.inf
        if t == slots - 1:  # the cache is full: only the end-of-sentence id is left
            log_probs[:, np.arange(log_probs.shape[1]) != eos] = -np.inf
        if t == 0:
            log_probs[:, eos] = -np.inf
        chosen = log_probs.argmax(axis=1)
        for row in np.flatnonzero(~done):
            if chosen[row] == eos:
                done[row] = True
            else:
                out[row].append(int(chosen[row]))
        if done.all():
            break
        token = chosen[:, None].astype(np.int64)
    return out


def symbols(path: Path) -> list[str]:
    return list(SPECIALS) + [line.rsplit(" ", 1)[0] for line in path.read_text(encoding="utf-8").splitlines() if line]


def left_padded(rows: Sequence[Sequence[int]], pad: int) -> np.ndarray:
    width = max(map(len, rows))
    return np.array([[pad] * (width - len(r)) + list(r) for r in rows], dtype=np.int64)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the export folder (subnet.json and the two graphs)")
    parser.add_argument("sentences", nargs="+", help="BPE pieces (with --dicts) or ids, space-separated")
    parser.add_argument("--runtime", choices=("onnx", "torch"), default="onnx")
    parser.add_argument("--dicts", type=Path, help="the data-bin folder with dict.en.txt and dict.de.txt")
    args = parser.parse_args(argv)
    card = json.loads((args.folder / "subnet.json").read_text())
    decoding = card["input"]["decoding"]
    encoder, step = (onnx_graphs if args.runtime == "onnx" else torch_graphs)(args.folder)
    if args.dicts:
        source = {s: i for i, s in enumerate(symbols(args.dicts / "dict.en.txt"))}
        target = symbols(args.dicts / "dict.de.txt")
        rows = [[source.get(w, SPECIALS.index("<unk>")) for w in s.split()] + [decoding["eos"]] for s in args.sentences]
    else:
        rows = [[int(i) for i in s.split()] for s in args.sentences]
    translations = greedy(encoder, step, card, left_padded(rows, decoding["pad"]))
    lines = [
        (" ".join(target[i] for i in ids) + " ").replace("@@ ", "").rstrip() if args.dicts else " ".join(map(str, ids))
        for ids in translations
    ]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
