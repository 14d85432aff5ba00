"""``bert_base_sst2`` on the reference's measured sub-networks: predictor quality and search sample efficiency.

``predictors``: train on the first N rows of the reference notebook's results file (its search order), rank the
held-out rows (the distinct sub-networks not trained on): Kendall tau and MAPE of SST-2 accuracy for `Predictor` on
the super-network's features (genes of layers that do not run zeroed), on the plain one-hot (ablation) and for the
reference's predictor configuration (baseline) on the same features.

``costs``: the closed-form ``macs`` and ``params`` of a population of random sub-networks vs counting one
sub-network's matrix products on its forward pass (torch's FlopCounterMode, one sequence of ``max_seq_length``
tokens, CPU).

``accuracy``: one SST-2 accuracy measurement of a randomly initialised BERT-base sub-network on generated sentences
(``--sentences`` of 5 to 40 words drawn uniformly; not SST-2's own lengths), each batch cut after its longest sentence
(the library) vs padded to ``max_seq_length`` tokens (the reference); the predictions are compared too.

``search``: a surrogate super-network with bert_base_sst2's genes and exact MACs whose SST-2 accuracy is an MLP
fitted on all distinct rows plus a fixed per-sub-network pseudo-noise (``NOISE_STD``, about two dev sentences);
tactics ``linas``, ``evolutionary`` and ``random`` (seeds each) are compared as in ``sample_efficiency.py``: the
measurements each needs to reach random search's median hypervolume at 4N.

    .venv/bin/python benchmarks/bert_sst2.py predictors [--n-train 100,250,500]
    .venv/bin/python benchmarks/bert_sst2.py costs
    .venv/bin/python benchmarks/bert_sst2.py accuracy [--sentences 64]
    .venv/bin/python benchmarks/bert_sst2.py search [--seeds 3] [--ns 25,50] [--inner-evals 20000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _surrogate import MLPSurrogate, SurrogateMeasured, compare_predictors, compare_tactics, dedup, reference_rows  # noqa: E402

from neural_nas.supernets import create_supernet, supernet_registry  # noqa: E402
from neural_nas.supernets.text import BertSST2SuperNetwork  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "inc_dynas_notebook_results"
RESULTS = DATA / "results_bertbase_sst2_macs.csv"  # a copy of shared/data (Apache-2.0)
SURROGATE = "bert_base_sst2_surrogate"
NOISE_STD = 0.002
# Hypervolume reference point: below the reference rows' lowest accuracy, beyond their largest GMACs
# (benchmarks/RESULTS.md, `bert_base_sst2`).
REFERENCE_POINT = (0.85, 9.0)
N_COST_VECTORS = 20000


def load_rows() -> tuple[np.ndarray, np.ndarray]:
    """(index vectors, SST-2 accuracy) of the reference's rows, in file order."""
    return reference_rows(create_supernet("bert_base_sst2"), RESULTS, "SST-2 Acc")


def predictors(args: argparse.Namespace) -> None:
    print(RESULTS.name)
    compare_predictors(create_supernet("bert_base_sst2"), *load_rows(), [int(v) for v in args.n_train.split(",")])


def costs(args: argparse.Namespace) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    supernet = create_supernet("bert_base_sst2")
    vectors = supernet.encoding.random_vectors(N_COST_VECTORS, 0)
    supernet.exact_metrics(vectors[:10])  # warm
    start = time.perf_counter()
    exact = supernet.exact_metrics(vectors)
    closed_ms = (time.perf_counter() - start) * 1000
    print(f"closed form: {len(vectors)} sub-networks in {closed_ms:.1f} ms")
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    ids = torch.zeros((1, supernet.max_seq_length), dtype=torch.long)
    for vector, macs in zip(vectors[:3], exact["macs"]):
        start = time.perf_counter()
        module = supernet.active_subnet(supernet.encoding.vector_to_dict(vector))
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            module(ids, torch.ones_like(ids), ids)
        counted_s = time.perf_counter() - start
        print(
            f"counted on the forward pass (extraction included): {counted_s:.2f} s; matrix-product MACs "
            f"{counter.get_total_flops() // 2} of the closed form's {macs}"
        )
    print(f"closed form per sub-network: {closed_ms * 1000 / len(vectors):.2f} us")


def accuracy(args: argparse.Namespace) -> None:
    from types import SimpleNamespace

    import torch

    from neural_nas.measurements.context import MeasureContext

    supernet = create_supernet("bert_base_sst2")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(200)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    vocab += [f"[unused{i}]" for i in range(supernet.shape.vocab_size - len(vocab))]
    with tempfile.TemporaryDirectory() as tmp:
        lines = ["sentence\tlabel"]
        lines += [f"{' '.join(rng.choice(words, rng.integers(5, 41)))}\t{i % 2}" for i in range(args.sentences)]
        Path(tmp, "dev.tsv").write_text("\n".join(lines) + "\n")
        Path(tmp, "vocab.txt").write_text("\n".join(vocab) + "\n")
        conf = SimpleNamespace(
            dataset_path=tmp,
            supernet_ckpt_path=None,
            batch_size=1,
            eval_batch_size=args.eval_batch_size,
            test_fraction=1.0,
            latency_warmup=0,
            latency_steps=1,
        )
        measurer = supernet.measurer(MeasureContext(("accuracy_sst2",), conf, "cpu", 0))
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    middle = {"num_layers": [9], "num_attention_heads": [8] * 12, "intermediate_size": [2048] * 12}
    module = supernet.active_subnet(middle)
    ids, mask, types, labels = measurer.dev
    print(f"{args.sentences} sentences, {int(mask.sum())} tokens of {mask.numel()} padded positions")
    start = time.perf_counter()
    trimmed = measurer.accuracy(module)
    trimmed_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.inference_mode():
        logits = torch.cat(
            [module(ids[i : i + 64], mask[i : i + 64], types[i : i + 64]) for i in range(0, len(ids), 64)]
        )
    padded_s = time.perf_counter() - start
    padded = float((logits.argmax(-1) == labels).float().mean())
    print(f"cut batches: {trimmed_s:.1f} s (accuracy {trimmed:.4f}); padded to 128: {padded_s:.1f} s ({padded:.4f})")
    with torch.inference_mode():  # the same logits, one sentence at a time cut to its own length
        own = torch.cat(
            [
                module(
                    ids[i : i + 1, : int(m.sum())], mask[i : i + 1, : int(m.sum())], types[i : i + 1, : int(m.sum())]
                )
                for i, m in enumerate(mask)
            ]
        )
    print(
        f"largest logit difference, padded vs each sentence alone: {float((own - logits).abs().max()):.2e}; "
        f"same predictions: {bool((own.argmax(-1) == logits.argmax(-1)).all())}"
    )


class SurrogateBert(SurrogateMeasured, BertSST2SuperNetwork):
    """bert_base_sst2's genes and exact MACs/params; accuracy from an `MLPSurrogate` (set ``surrogate``)."""

    name = SURROGATE
    metrics = ("accuracy_sst2", "macs", "params")
    surrogate_metric = "accuracy_sst2"


def search(args: argparse.Namespace) -> None:
    supernet_registry.register(SURROGATE, SurrogateBert)
    features = create_supernet("bert_base_sst2").features
    rows = dedup(*load_rows(), features)
    start = time.perf_counter()
    SurrogateBert.surrogate = MLPSurrogate(features, noise_std=NOISE_STD).fit(*rows)
    print(f"surrogate fitted on {len(rows[1])} distinct rows in {time.perf_counter() - start:.1f} s")
    compare_tactics(
        SURROGATE,
        "accuracy_sst2",
        REFERENCE_POINT,
        tactics=args.tactics.split(","),
        seeds=args.seeds,
        ns=[int(n) for n in args.ns.split(",")],
        population=args.population,
        inner_evals=args.inner_evals,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predictors")
    p.add_argument("--n-train", default="100,250,500")
    sub.add_parser("costs")
    a = sub.add_parser("accuracy")
    a.add_argument("--sentences", type=int, default=64)
    a.add_argument("--eval-batch-size", type=int, default=64)
    s = sub.add_parser("search")
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--ns", default="25,50", help="N values: targets are random search's HV at 4N")
    s.add_argument("--population", type=int, default=50)
    s.add_argument("--inner-evals", type=int, default=20000)
    s.add_argument("--tactics", default="linas,evolutionary,random")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    {"predictors": predictors, "costs": costs, "accuracy": accuracy, "search": search}[args.command](args)


if __name__ == "__main__":
    main()
