"""``transformer_lt_wmt_en_de`` on the reference's measured sub-networks: predictors, exact metrics, search.

``predictors``: train on the first N rows of the reference notebook's results file (its search order), rank the
held-out rows (distinct sub-networks not trained on): Kendall tau and MAPE of BLEU for `Predictor` on the
super-network's features (genes of decoder layers that do not run zeroed), on the plain one-hot (ablation), and for the
reference's predictor configuration (baseline) on the same features.

``costs``: the closed-form ``macs``/``params`` of random sub-networks vs counting one extracted sub-network's matrix
products on its forward pass (torch's FlopCounterMode; the reference's sentence; a randomly initialised model).

``search``: a surrogate super-network with the real genes and exact MACs whose BLEU is an MLP fitted on all distinct
rows plus a fixed per-sub-network pseudo-noise (``NOISE_STD`` BLEU); tactics ``linas``, ``evolutionary`` and ``random``
(seeds each) compared as in ``sample_efficiency.py``: the measurements each needs to reach random search's median
hypervolume at 4N.

    .venv/bin/python benchmarks/transformer_lt.py predictors [--n-train 50,100,200]
    .venv/bin/python benchmarks/transformer_lt.py costs
    .venv/bin/python benchmarks/transformer_lt.py search [--seeds 3] [--ns 25,50] [--inner-evals 10000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _surrogate import MLPSurrogate, SurrogateMeasured, compare_predictors, compare_tactics, dedup, reference_rows  # noqa: E402

from neural_nas.supernets import create_supernet, supernet_registry  # noqa: E402
from neural_nas.supernets.translation import TransformerLTSuperNetwork  # noqa: E402

NAME = "transformer_lt_wmt_en_de"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "inc_dynas_notebook_results"
RESULTS = DATA / "results_transformerlt_macs.csv"  # a copy of shared/data (Apache-2.0)
SURROGATE = "transformer_lt_surrogate"
NOISE_STD = 0.1
# Hypervolume reference point: below the reference rows' lowest BLEU, beyond their largest GMACs
# (benchmarks/RESULTS.md, Transformer-LT).
REFERENCE_POINT = (21.0, 2.6)
N_COST_VECTORS = 10000


def load_rows() -> tuple[np.ndarray, np.ndarray]:
    """(index vectors, BLEU) of the reference's rows, in file order."""
    return reference_rows(create_supernet(NAME), RESULTS, "BLEU")


def predictors(args: argparse.Namespace) -> None:
    print(RESULTS.name)
    compare_predictors(create_supernet(NAME), *load_rows(), [int(v) for v in args.n_train.split(",")])


def costs(args: argparse.Namespace) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from neural_nas.supernets.translation.counting import macs_breakdown

    supernet = create_supernet(NAME)
    vectors = supernet.encoding.random_vectors(N_COST_VECTORS, 0)
    supernet.exact_metrics(vectors[:10])
    start = time.perf_counter()
    supernet.exact_metrics(vectors)
    closed_ms = (time.perf_counter() - start) * 1000
    print(
        f"closed form: {len(vectors)} sub-networks in {closed_ms:.1f} ms "
        f"({closed_ms * 1000 / len(vectors):.2f} us each)"
    )
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    src, prev = supernet.example_inputs()
    matmul, _ = macs_breakdown(supernet.space, vectors[:3])
    for vector, expected in zip(vectors[:3], matmul):
        start = time.perf_counter()
        module = supernet.active_subnet(supernet.encoding.vector_to_dict(vector))
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            module(src, prev)
        print(
            f"counted on the forward pass (extraction included): {time.perf_counter() - start:.2f} s; matrix-product "
            f"MACs {counter.get_total_flops() // 2} (closed form {expected})"
        )


class SurrogateTransformerLT(SurrogateMeasured, TransformerLTSuperNetwork):
    """The real genes and exact MACs/params; BLEU from an `MLPSurrogate` (set ``surrogate``)."""

    name = SURROGATE
    metrics = ("bleu", "macs", "params")
    surrogate_metric = "bleu"


def search(args: argparse.Namespace) -> None:
    supernet_registry.register(SURROGATE, SurrogateTransformerLT)
    features = create_supernet(NAME).features
    rows = dedup(*load_rows(), features)
    SurrogateTransformerLT.surrogate = MLPSurrogate(features, noise_std=NOISE_STD).fit(*rows)
    print(f"surrogate fitted on {len(rows[1])} distinct rows")
    compare_tactics(
        SURROGATE,
        "bleu",
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
    p.add_argument("--n-train", default="50,100,200")
    sub.add_parser("costs")
    s = sub.add_parser("search")
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--ns", default="25,50", help="N values: targets are random search's HV at 4N")
    s.add_argument("--population", type=int, default=50)
    s.add_argument("--inner-evals", type=int, default=10000)
    s.add_argument("--tactics", default="linas,evolutionary,random")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    {"predictors": predictors, "costs": costs, "search": search}[args.command](args)


if __name__ == "__main__":
    main()
