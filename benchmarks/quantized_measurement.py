"""Time per measured sub-network of `inc_quantization_ofa_resnet50` (int8 model) beside `ofa_resnet50` (float model).

Random-initialised weights (the time is what counts), a generated ImageFolder (`tests/image_data.py`: ``--classes``
classes of 64 px JPEGs, measured at 224), the same ``--subnets`` architectures (d, e, w) for both; the quantization
policies are random. Each side measures top-1 and latency as a search does: float: extract, recalibrate BatchNorm,
validate, time; quantized: extract, recalibrate BatchNorm, quantize (calibrated on ``mp_calibration_samples``
images), validate the int8 model, time it; parameters and model size come from tables on both sides.

    .venv/bin/python benchmarks/quantized_measurement.py [--subnets 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train-per-class", type=int, default=20)
    parser.add_argument("--val-per-class", type=int, default=10)
    parser.add_argument("--calibration-size", type=int, default=200)
    parser.add_argument("--mp-calibration-samples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--latency-steps", type=int, default=10)
    args = parser.parse_args()

    import torch

    from neural_nas.measurements.context import MeasureContext
    from neural_nas.supernets import create_supernet
    from tests.image_data import make_image_folder

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_image_folder(
            Path(tmp), n_classes=args.classes, n_train=args.train_per_class, n_val=args.val_per_class, size=64
        )
        conf = SimpleNamespace(
            dataset_path=str(root),
            calibration_size=args.calibration_size,
            mp_calibration_samples=args.mp_calibration_samples,
            eval_batch_size=32,
            num_workers=0,
            test_fraction=1.0,
            batch_size=args.batch_size,
            latency_warmup=3,
            latency_steps=args.latency_steps,
        )
        metrics = ("accuracy_top1", "latency")
        quant, float_net = create_supernet("inc_quantization_ofa_resnet50"), create_supernet("ofa_resnet50")
        vectors = quant.encoding.random_vectors(args.subnets, rng=0)
        quant.exact_metrics(vectors[:1]), float_net.exact_metrics(vectors[:1, :29])  # tables outside the timing
        rows = []
        for name, supernet, cut in (("ofa_resnet50 (float)", float_net, 29), ("quantized (int8 policy)", quant, None)):
            supernet.load(pretrained=False, ckpt_path=None, device="cpu")
            start = time.perf_counter()
            measurer = supernet.measurer(MeasureContext(metrics, conf, "cpu", 42))
            prepare_s = time.perf_counter() - start
            for vector in vectors:
                subnet = supernet.encoding.vector_to_dict(vector[:cut])
                start = time.perf_counter()
                result = measurer(subnet)
                total = time.perf_counter() - start
                if cut is None:
                    steps = dict(measurer.last_timings)
                else:  # the float measurer times accuracy only: the rest is extraction and latency
                    timings = measurer.accuracy_evaluator.last_timings
                    steps = {k: timings[k] for k in ("recalibrate_s", "validate_s")}
                    steps["extract + latency_s"] = total - sum(steps.values())
                active = quant.active_layers(vector)[0]  # share of the sub-network's layers at 8 bits
                share = 100 * float(np.mean(vector[29:90][active] == 0)) if cut is None else 0.0
                rows.append((name, total, result, steps, share, prepare_s))
        print(
            f"torch threads {args.threads}; {args.calibration_size} BatchNorm calibration images, "
            f"{args.mp_calibration_samples} quantization calibration images, "
            f"{args.classes * args.val_per_class} validation images, latency batch {args.batch_size} x "
            f"{args.latency_steps} steps, 224 px"
        )
        print("| model | s per sub-network | latency (ms/batch) | model size (MB) | int8 layers | steps (s) |")
        print("|---|---|---|---|---|---|")
        for name, total, result, steps, share, _ in rows:
            size = f"{result['model_size']:.1f}" if "model_size" in result else "-"
            detail = ", ".join(f"{k.removesuffix('_s')} {v:.1f}" for k, v in steps.items())
            print(f"| {name} | {total:.1f} | {result['latency']:.1f} | {size} | {share:.0f} % | {detail} |")
        for name in dict.fromkeys(r[0] for r in rows):
            mine = [r for r in rows if r[0] == name]
            mean = np.mean([r[1] for r in mine])
            print(f"{name}: mean {mean:.1f} s per sub-network (data preparation {mine[0][5]:.1f} s once per search)")


if __name__ == "__main__":
    main()
