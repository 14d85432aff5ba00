"""Measurement speed per sub-network: MACs/params by lookup tables vs a traced fvcore count, accuracy by
`AccuracyEvaluator` vs a naive per-sub-network torchvision pipeline, and the peak memory of a search.

On the random-initialised ``ofa_mbv3_d234_e346_k357_w1.0`` (accuracy values are meaningless; the time is what counts)
and a generated ImageFolder (`tests/image_data.py`): 10 classes, 200 train + 100 val JPEGs each, ``--image-px`` pixels
(64 by default), measured at the super-network's 224 (Resize 256 / CenterCrop 224), calibration on 2,000 train images.

- MACs/params: ``exact_metrics`` (tables) per sub-network vs extracting the sub-network and counting it with fvcore's
  ``FlopCountAnalysis`` (its conv + linear operators, the convention of the tables; the total with its other
  operators is shown too) and ``parameter_count``.
- accuracy: `AccuracyEvaluator` (images decoded once per search, cached as uint8, channels-last on CPU) vs "naive":
  per sub-network, build torchvision ``ImageFolder`` + ``DataLoader`` for 2,000 random calibration images
  (RandomResizedCrop + flip) and for the validation set, recalibrate BatchNorm, then top-1 (what the reference does).
- peak memory: max RSS of a child process running one loop of a Dynamic NAS search with the defaults (acc + MACs,
  calibration 2,000 images, eval_batch_size 64, 20,000 predicted evaluations) except population 10, num_workers 0,
  resumed from 10 earlier rows so that it measures one sub-network: fits, inner search, data cache, model, forward.
  ``--memory-batch-sizes 64,16`` repeats it per ``eval_batch_size``; the RSS after importing torch and neural_nas
  (before any search) is printed too.

    .venv/bin/python benchmarks/measurement_speed.py [--small] [--subnets 10] [--acc-subnets 2]
        [--memory-only] [--memory-batch-sizes 64,16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MBV3 = "ofa_mbv3_d234_e346_k357_w1.0"


def table_vs_fvcore(supernet, vectors: np.ndarray) -> dict:
    import torch
    from fvcore.nn import FlopCountAnalysis, parameter_count

    supernet.exact_metrics(vectors[:1])  # tables built once per process, outside the timing
    table_s, fvcore_s, extract_s, mismatches, other_ops = [], [], [], 0, []
    image = torch.zeros(1, 3, supernet.image_size, supernet.image_size)
    for vector in vectors:
        start = time.perf_counter()
        exact = supernet.exact_metrics(vector[None, :])
        table_s.append(time.perf_counter() - start)

        start = time.perf_counter()
        module = supernet.active_subnet(supernet.encoding.vector_to_dict(vector))
        extracted = time.perf_counter()
        flops = FlopCountAnalysis(module, image)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = flops.by_operator()
        macs = sum(v for op, v in by_op.items() if op in ("conv", "linear", "addmm", "matmul"))
        params = parameter_count(module)[""]
        fvcore_s.append(time.perf_counter() - start)
        extract_s.append(extracted - start)
        other_ops.append(flops.total() - macs)
        mismatches += int(macs != exact["macs"][0]) + int(params != exact["params"][0])
    start = time.perf_counter()
    supernet.exact_metrics(vectors)
    batch_s = time.perf_counter() - start
    return {
        "table_s": float(np.median(table_s)),
        "table_batch_s": batch_s / len(vectors),
        "fvcore_s": float(np.median(fvcore_s)),
        "extract_s": float(np.median(extract_s)),
        "mismatches": mismatches,
        "other_ops_macs": float(np.median(other_ops)),
    }


def naive_accuracy(model, root: Path, calibration_size: int, batch_size: int, seed: int) -> float:
    """The per-sub-network pipeline: torchvision datasets and loaders built again for every sub-network."""
    import torch
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from neural_nas.measurements.accuracy import recalibrate_bn, top1_accuracy

    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    train = datasets.ImageFolder(
        str(root / "train"),
        transforms.Compose(
            [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize]
        ),
    )
    picked = np.random.default_rng(seed).choice(len(train), size=min(calibration_size, len(train)), replace=False)
    calib = DataLoader(Subset(train, picked.tolist()), batch_size=batch_size, shuffle=False, num_workers=0)
    val = DataLoader(
        datasets.ImageFolder(
            str(root / "val"),
            transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), normalize]),
        ),
        batch_size=batch_size,
        shuffle=False,
        num_workers=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        recalibrate_bn(model, (x for x, _ in calib))
    return top1_accuracy(model, val)


def warm_up(model, batch_size: int, image_size: int) -> None:
    """One untimed forward pass in each memory layout: first-call costs (thread pools, kernel selection) stay out."""
    import torch

    with torch.no_grad():
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.zeros(batch_size, 3, image_size, image_size).contiguous(memory_format=layout)
            model.eval().to(memory_format=layout)(x)
    model.to(memory_format=torch.contiguous_format)


def accuracy_speed(supernet, vectors: np.ndarray, root: Path, calibration_size: int, batch_size: int) -> dict:
    from torchvision import datasets, transforms  # noqa: F401  (imported now: the import is not a per-network cost)

    from neural_nas.measurements.accuracy import AccuracyEvaluator

    evaluator = AccuracyEvaluator(
        root,
        calibration_size=calibration_size,
        eval_batch_size=batch_size,
        num_workers=0,
        image_size=supernet.image_size,
        device="cpu",
        seed=0,
    )
    start = time.perf_counter()
    evaluator.prepare()
    prepare_s = time.perf_counter() - start
    ours, naive, recal, valid = [], [], [], []
    for i, vector in enumerate(vectors):
        subnet = supernet.encoding.vector_to_dict(vector)
        warm_up(supernet.active_subnet(subnet), batch_size, supernet.image_size)
        for method in ("ours", "naive") if i % 2 == 0 else ("naive", "ours"):  # alternate who runs first (warm-up)
            start = time.perf_counter()
            if method == "ours":
                evaluator.evaluate(supernet.active_subnet(subnet))
                ours.append(time.perf_counter() - start)
                recal.append(evaluator.last_timings["recalibrate_s"])
                valid.append(evaluator.last_timings["validate_s"])
            else:
                naive_accuracy(supernet.active_subnet(subnet), root, calibration_size, batch_size, seed=0)
                naive.append(time.perf_counter() - start)
        print(f"  sub-network {i + 1}: AccuracyEvaluator {ours[-1]:.1f} s, naive {naive[-1]:.1f} s", flush=True)
    return {
        "prepare_s": prepare_s,
        "ours_s": float(np.median(ours)),
        "naive_s": float(np.median(naive)),
        "recalibrate_s": float(np.median(recal)),
        "validate_s": float(np.median(valid)),
        "n_calib": min(calibration_size, len(list((root / "train").rglob("*.jpg")))),
        "n_val": len(list((root / "val").rglob("*.jpg"))),
    }


def memory_child(
    root: str,
    population: int,
    inner_evals: int | None,
    metrics: tuple[str, ...] = ("acc", "macs"),
    eval_batch_size: int = 64,
) -> None:
    """Run in a child process: one loop of a Dynamic NAS search; prints its wall time and max RSS as JSON.

    The results CSV starts with ``population`` rows (random sub-networks, exact MACs/params, a made-up top-1), which
    the search resumes: it fits the predictors, runs the inner search and measures one sub-network for real (the
    data cached, the model built, forward passes at 224), instead of spending minutes on the first population.
    """
    import logging

    from neural_nas import NAS, NASConfig
    from neural_nas.results.dynast_csv import ResultsCsv
    from neural_nas.supernets import create_supernet

    logging.basicConfig(level=logging.WARNING)
    import torch  # noqa: F401  (what every search pays before it starts, counted apart)

    import neural_nas.approaches  # noqa: F401

    imports_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    csv_path = Path(tempfile.mkdtemp()) / "memory.csv"
    supernet = create_supernet(MBV3)
    vectors = supernet.encoding.random_vectors(population, 1)
    exact = supernet.exact_metrics(vectors)
    earlier = ResultsCsv(csv_path)
    for i, vector in enumerate(vectors):
        row = {"accuracy_top1": 10.0 + i, "macs": float(exact["macs"][i]), "params": float(exact["params"][i])}
        earlier.append(supernet.subnet_record(supernet.encoding.vector_to_dict(vector)), row)
    num_evals = population + 1
    config = NASConfig(approach="dynas", search_algorithm="nsga2")
    d = config.dynas
    d.supernet, d.metrics, d.population, d.num_evals = MBV3, list(metrics), population, num_evals
    d.dataset_path, d.pretrained, d.num_workers, d.eval_batch_size = root, False, 0, eval_batch_size
    d.inner_evals = inner_evals
    d.results_csv_path = str(csv_path)
    start = time.perf_counter()
    NAS(config).search()
    print(
        json.dumps(
            {
                "wall_s": time.perf_counter() - start,
                "imports_rss_mb": imports_mb,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def peak_memory(
    root: Path, population: int, inner_evals: int | None, metrics: tuple[str, ...], eval_batch_size: int = 64
) -> dict:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import measurement_speed as m; "
        f"m.memory_child({str(root)!r}, {population}, {inner_evals!r}, {metrics!r}, {eval_batch_size})"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(torch_threads())}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed(root: Path, subnets: int, acc_subnets: int, calibration: int, batch: int) -> dict:
    """The MACs/params and accuracy comparisons on ``root`` (printed); their numbers."""
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(MBV3)
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    vectors = supernet.encoding.random_vectors(max(subnets, acc_subnets), 0)
    c = table_vs_fvcore(supernet, vectors[:subnets])
    print(f"\nMACs + params per sub-network ({subnets} sub-networks, median):")
    print(
        f"  lookup tables {c['table_s'] * 1e3:.3f} ms (batched: {c['table_batch_s'] * 1e6:.1f} us), "
        f"fvcore {c['fvcore_s'] * 1e3:.0f} ms (of which extraction {c['extract_s'] * 1e3:.0f} ms): "
        f"{c['fvcore_s'] / c['table_s']:.0f}x; values differing: {c['mismatches']} "
        f"(fvcore's other operators add {c['other_ops_macs'] / 1e6:.2f} M 'flops', not MACs of conv/linear)"
    )
    a = accuracy_speed(supernet, vectors[:acc_subnets], root, calibration, batch)
    print(
        f"\naccuracy per sub-network ({a['n_calib']} calibration + {a['n_val']} validation images at 224, "
        f"batch {batch}, {acc_subnets} sub-networks, median):"
    )
    print(
        f"  AccuracyEvaluator {a['ours_s']:.1f} s (recalibration {a['recalibrate_s']:.1f} s, validation "
        f"{a['validate_s']:.1f} s; one-off preparation {a['prepare_s']:.1f} s), naive {a['naive_s']:.1f} s: "
        f"{a['naive_s'] / a['ours_s']:.2f}x"
    )
    return {"counting": c, "accuracy": a}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes: a quick check that everything runs")
    parser.add_argument("--subnets", type=int, default=10, help="sub-networks for the MACs/params comparison")
    parser.add_argument("--acc-subnets", type=int, default=2, help="sub-networks for the accuracy comparison")
    parser.add_argument("--image-px", type=int, default=64)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory search")
    parser.add_argument("--memory-only", action="store_true", help="only the peak-memory search")
    parser.add_argument(
        "--memory-batch-sizes",
        default="64",
        help="eval_batch_size values for the peak-memory search, e.g. 64,16 (64 is the default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared machine a descheduled second thread stalls every op)",
    )
    args = parser.parse_args(argv)
    import logging

    import torch

    from tests.image_data import make_image_folder

    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(args.threads)
    n_train, n_val, calibration, batch = (200, 100, 2000, 64) if not args.small else (2, 1, 20, 10)
    subnets, acc_subnets = (args.subnets, args.acc_subnets) if not args.small else (1, 1)
    # --small: the memory search measures only the exact table metrics (no forward passes): it checks the plumbing.
    population, inner, metrics = (10, None, ("acc", "macs")) if not args.small else (10, 300, ("macs", "params"))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = make_image_folder(Path(tmp) / "images", n_classes=10, n_train=n_train, n_val=n_val, size=args.image_px)
        if not args.memory_only:
            out.update(speed(root, subnets, acc_subnets, calibration, batch))
        if not args.no_memory:
            out["memory"] = {}
            for eval_batch in [int(b) for b in args.memory_batch_sizes.split(",")]:
                m = out["memory"][eval_batch] = peak_memory(root, population, inner, metrics, eval_batch)
                print(
                    f"\npeak memory of one search loop ({' + '.join(metrics)}, {population} earlier rows resumed, "
                    f"population {population}, inner_evals {inner or 'default'}, eval_batch_size {eval_batch}, "
                    f"one sub-network measured): max RSS {m['max_rss_mb']:.0f} MB (after importing torch and "
                    f"neural_nas: {m['imports_rss_mb']:.0f} MB), wall {m['wall_s']:.0f} s"
                )
    return out


if __name__ == "__main__":
    main()
