"""Train the weights of the embedded super-network ``ofa_mbv3_digits`` (neural_nas/supernets/ofa_digits.py).

    python scripts/train_ofa_digits.py --out neural_nas/supernets/weights/ofa_digits.pt

Method: weight-sharing training with in-place distillation (as in BigNAS / AttentiveNAS), not OFA's progressive
shrinking. Every step trains, on the same batch, the largest sub-network on the labels (with label smoothing) and
``--random-subnets`` uniformly random sub-networks on the largest one's soft predictions; their gradients add up before
one SGD step (Nesterov momentum, cosine learning rate after a one-epoch warm-up). Unlike BigNAS's sandwich rule the
smallest sub-network is not trained as itself every step (``--train-smallest`` adds it back): trained so, the small
sub-networks catch up with the large ones on this easy task and the range of top-1 a search trades against MACs narrows
to a few points (benchmarks/RESULTS.md, 'The embedded super-network's weights'). Every batch is freshly distorted by
`ofa_digits.distorted` (the task the super-network is measured on). Only the training split is used; the held-out split
of `ofa_digits.digits_split` is never seen.

Everything is seeded (``--seed``); on CPU a run is reproducible for a given ``--threads`` (default 1: steadier than 2 on
a busy 2-core machine; its time: benchmarks/RESULTS.md). The output is a plain state dict of float16 tensors (the
library loads them as float32), saved with ``torch.save`` and loaded with ``torch.load(..., weights_only=True)``. At the
end the script loads the file back and reports held-out top-1 after BatchNorm recalibration, as the library measures it,
for the smallest, the largest and a few random sub-networks.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neural_nas.supernets.ofa_digits import OFADigitsSuperNetwork, build_digits_supernet, digits_split, distorted

logger = logging.getLogger("neural_nas")


def to_network(x: torch.Tensor) -> torch.Tensor:
    """Channels-last: depthwise convolutions run about 3x faster so on CPU."""
    return x.contiguous(memory_format=torch.channels_last)


def set_subnet(net: nn.Module, supernet: OFADigitsSuperNetwork, vector: np.ndarray) -> None:
    net.set_active_subnet(**supernet._subnet_kwargs(supernet.encoding.vector_to_dict(vector)))


def evaluate(supernet: OFADigitsSuperNetwork, vectors: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Held-out top-1 (%) after BN recalibration, and MACs, of the named sub-networks (the library's measurement)."""
    out = {}
    for name, vector in vectors.items():
        m = supernet.measure(supernet.encoding.vector_to_dict(vector), ["accuracy_top1"])
        out[name] = (m["accuracy_top1"], m["macs"])
    return out


def train(args: argparse.Namespace) -> nn.Module:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    supernet = OFADigitsSuperNetwork()
    encoding = supernet.encoding
    largest, smallest = encoding.cardinalities - 1, np.zeros(encoding.n_genes, dtype=np.int64)

    x_train, y_train, _, _ = digits_split()
    images, labels = torch.as_tensor(x_train), torch.as_tensor(y_train)
    net = build_digits_supernet().to(memory_format=torch.channels_last)
    decay = [p for n, p in net.named_parameters() if p.ndim > 1 and "matrix" not in n]
    no_decay = [p for n, p in net.named_parameters() if not (p.ndim > 1 and "matrix" not in n)]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        momentum=0.9,
        nesterov=True,
    )
    steps_per_epoch = math.ceil(len(images) / args.batch_size)
    total, warmup = args.epochs * steps_per_epoch, steps_per_epoch
    start, step = time.perf_counter(), 0
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(images), generator=generator)
        losses = []
        for batch in order.split(args.batch_size):
            if len(batch) < 2:
                continue
            lr = (
                args.lr * (step + 1) / warmup
                if step < warmup
                else 0.5 * args.lr * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = to_network(distorted(images[batch], generator))
            y = labels[batch]
            optimizer.zero_grad(set_to_none=True)
            set_subnet(net, supernet, largest)
            logits = net(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            loss.backward()
            soft = logits.detach().softmax(dim=1)
            students = [smallest] if args.train_smallest else []
            students += [encoding.random_vectors(1, rng)[0] for _ in range(args.random_subnets)]
            for vector in students:
                set_subnet(net, supernet, vector)
                F.cross_entropy(net(x), soft).backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
        logger.info(
            "epoch %d/%d: largest's loss %.3f, lr %.4f, %.0f s",
            epoch + 1,
            args.epochs,
            np.mean(losses),
            lr,
            time.perf_counter() - start,
        )
    return net.to(memory_format=torch.contiguous_format).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("ofa_digits.pt"))
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=5e-5)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--random-subnets", type=int, default=1)
    parser.add_argument("--train-smallest", action="store_true", help="also train the smallest every step (sandwich)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    net = train(args)
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    logger.info(
        "saved %s (%.2f MB) after %.0f s", args.out, args.out.stat().st_size / 2**20, time.perf_counter() - start
    )

    # Measured as shipped: the float16 file loaded back.
    supernet = OFADigitsSuperNetwork()
    supernet.load(pretrained=True, ckpt_path=str(args.out), device="cpu")
    encoding, rng = supernet.encoding, np.random.default_rng(args.seed + 1)
    vectors = {"smallest": np.zeros(encoding.n_genes, dtype=np.int64), "largest": encoding.cardinalities - 1}
    vectors.update({f"random {i}": v for i, v in enumerate(encoding.random_vectors(6, rng))})
    for name, (acc, macs) in evaluate(supernet, vectors).items():
        logger.info("%-9s held-out top-1 %.2f %%, %.2f M MACs", name, acc, macs / 1e6)


if __name__ == "__main__":
    main()
