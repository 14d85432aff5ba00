"""Exported int8 sub-networks of ``inc_quantization_ofa_resnet50`` against the library's own int8 model.

For random sub-networks (random policies): recalibrate BatchNorm and quantize as a search measures
(`OFAResNet50Quant.quantize`), both on random images (no data set here), write the ``pt2`` and ``onnx`` files as
``neural-nas export`` does (`to_qdq`), and run them on other random images next to PyTorch's converted int8 model.
Reported per sub-network:

- ``rel``: the largest logit difference over the largest logit (the quantity the parity check bounds), for the
  torch.export program and for onnxruntime (default optimisations: fused int8 kernels);
- ``agree``: the share of images whose top-1 class is the same as the int8 model's;
- ``MB``: file sizes beside the ``model_size`` metric;
- for scale, ``int8 vs float rel``: how far the int8 model itself is from the float sub-network.

Two kinds of weights, as no trained ones can be downloaded here: plain random initialisation, and the same with each
residual branch scaled by each of ``--gains`` (its last BatchNorm's weight), as in trained ResNets, whose residual
branches are small: the rounding difference of one int8 step then fades instead of growing layer after layer.

    python benchmarks/int8_export.py [--subnets 6] [--image-size 224] [--gains 1,0.2,0.1]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def supernet_with(gain: float, image_size: int):
    from neural_nas.supernets.ofa_resnet50_quant import OFAResNet50Quant

    class Sized(OFAResNet50Quant):
        pass

    Sized.image_size = image_size
    supernet = Sized()
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    with torch.no_grad():
        for name, tensor in supernet.model.state_dict().items():
            if name.endswith("conv3.bn.bn.weight"):
                tensor.mul_(gain)
    return supernet


def one(supernet, seed: int, folder: Path) -> dict[str, float]:
    from neural_nas.export.formats import format_registry
    from neural_nas.measurements.accuracy import recalibrate_bn
    from neural_nas.measurements.quantization import quantized_engine, select_engine, to_qdq

    size = supernet.image_size
    generator = torch.Generator().manual_seed(seed)
    subnet = supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(1, rng=seed)[0])
    module = supernet.active_subnet(subnet).eval()
    calibration = [torch.randn(8, 3, size, size, generator=generator)]
    images = torch.randn(16, 3, size, size, generator=generator)
    with torch.no_grad():
        recalibrate_bn(module, calibration)  # as before every measurement: BatchNorm statistics of these inputs
        floats = module(images).numpy()
    with quantized_engine(select_engine()), torch.no_grad():
        int8 = supernet.quantize(module, subnet, calibration)
        expected = int8(images).numpy()
        graph = supernet.export_graphs(to_qdq(copy.deepcopy(int8)))[0]
    scale = max(1.0, float(np.abs(expected).max()))
    row = {
        "int8 layers": sum(bits == 8 for bits, _ in supernet.policy(subnet)),
        "int8 vs float rel": float(np.abs(expected - floats).max()) / scale,
        "model_size MB": float(supernet.exact_metrics(supernet.encoding.dict_to_vector(subnet)[None])["model_size"][0]),
    }
    for name in ("pt2", "onnx"):
        fmt = format_registry.get(name)
        path = folder / f"subnet{fmt.suffix}"
        fmt.write(graph, path)
        (got,) = fmt.run(path)(images)
        row[f"{name} rel"] = float(np.abs(got - expected).max()) / scale
        row[f"{name} agree"] = float((got.argmax(1) == expected.argmax(1)).mean())
        row[f"{name} MB"] = path.stat().st_size / 1e6
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=6)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--gains", default="1,0.2,0.1", help="residual branch scales, comma-separated")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    for gain in (float(g) for g in args.gains.split(",")):
        supernet = supernet_with(gain, args.image_size)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.subnets):
                rows.append(one(supernet, seed, Path(tmp)))
                print(f"gain {gain}, sub-network {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in rows[-1].items()))
        for name in ("pt2", "onnx"):
            rel = [r[f"{name} rel"] for r in rows]
            agree = [r[f"{name} agree"] for r in rows]
            ratio = [r[f"{name} MB"] / r["model_size MB"] for r in rows]
            if name == "pt2":
                median = np.median([r["int8 vs float rel"] for r in rows])
                print(f"residual gain {gain}: int8 vs float: median rel {median:.3g}")
            print(
                f"residual gain {gain}: {name}: largest rel {max(rel):.3g} (median {np.median(rel):.3g}), "
                f"top-1 agreement min {min(agree):.3f}, file / model_size {min(ratio):.3f}..{max(ratio):.3f}"
            )


if __name__ == "__main__":
    main()
