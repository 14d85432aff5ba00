"""``train_func`` / ``eval_func`` built from the YAML `train:` and `evaluation:` sections (reference format).

Everything is checked when the function is built: a bad key fails before the first candidate is trained. Datasets
are built once per function and shared by every candidate; each candidate is trained with the same data order (a
fresh ``torch.Generator`` seeded with ``seed``), so candidates are compared fairly and a result can be reproduced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from neural_nas._machine import cap_workers
from neural_nas.errors import ConfigError
from neural_nas.training._params import (
    Param,
    boolean,
    build_entry,
    call_checked,
    checked_factory,
    choice,
    integer,
    mapping,
    parse_section,
    single_entry,
)
from neural_nas.training.datasets import dataset_registry
from neural_nas.training.optim import criterion_registry, optimizer_registry

logger = logging.getLogger("neural_nas")


def _iteration_cap(value: Any) -> int | None:
    # The reference wrote -1 for "no cap".
    if value is None or value == -1 and not isinstance(value, bool):
        return None
    return integer(1).convert(value)


def _entry(value: Any) -> Any:
    # `{Name: {settings}}`, or a bare `Name` for the defaults; the name is checked by single_entry.
    if isinstance(value, (str, Mapping)):
        return value
    raise TypeError(value)


_ENTRY = Param("a mapping {name: {settings}} or a name", _entry)
_ITERATION = Param(f"{integer(1).allowed}, or -1 / null for no cap", _iteration_cap, None)

_TRAIN = {
    "optimizer": _ENTRY,
    "criterion": _ENTRY,
    "dataloader": mapping(what="a mapping with batch_size, shuffle and dataset"),
    "epoch": integer(1, default=None),
    "start_epoch": integer(0, default=0),
    "end_epoch": integer(1, default=None),
    "iteration": _ITERATION,
    "frequency": integer(1, default=None),
}
_DATALOADER = {
    "batch_size": integer(1, default=1),
    "shuffle": boolean(default=False),
    "last_batch": choice(("rollover", "no_rollover"), default="rollover"),
    "num_workers": integer(0, default=0),
    "dataset": _ENTRY,
}
_EVALUATION = {"accuracy": mapping(what="a mapping with metric and dataloader"), "performance": mapping(default=None)}
_ACCURACY = {"metric": mapping(default={"topk": 1}), "dataloader": mapping(), "iteration": _ITERATION}
_METRIC = {"topk": integer(1, default=1)}


@dataclass(frozen=True)
class _Loader:
    """A dataset built once, and how to batch it; ``make(generator)`` gives a fresh DataLoader."""

    dataset: Dataset
    batch_size: int
    shuffle: bool
    drop_last: bool
    num_workers: int

    def make(self, generator: torch.Generator | None = None) -> DataLoader:
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            drop_last=self.drop_last,
            num_workers=self.num_workers,
            generator=generator,
        )


def _build_loader(section: Any, path: str) -> _Loader:
    cfg = parse_section(section, _DATALOADER, path)
    name, kwargs = single_entry(cfg["dataset"], f"{path}.dataset", dataset_registry)
    dataset_path = f"{path}.dataset.{name}"
    dataset = build_entry(dataset_registry, name, kwargs, dataset_path)
    try:
        size = len(dataset)
    except TypeError as err:
        raise ConfigError(dataset_path, name, "a dataset with a length (map-style)") from err
    drop_last = cfg["last_batch"] == "no_rollover"  # as the reference: no_rollover drops a short last batch
    if size == 0 or drop_last and size < cfg["batch_size"]:
        raise ConfigError(
            f"{path}.batch_size",
            cfg["batch_size"],
            f"at most the dataset's {size} samples (no batch would be produced)"
            if size
            else "used with a non-empty dataset",
        )
    item = dataset[0]
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        raise ConfigError(
            dataset_path, name, "a dataset whose items are (input, label) pairs", "a dummy dataset needs label: true"
        )
    workers = cap_workers(cfg["num_workers"], f"{path}.num_workers")
    return _Loader(dataset, cfg["batch_size"], cfg["shuffle"], drop_last, workers)


def _device(device: Any) -> torch.device:
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError) as err:
        raise ConfigError("device", device, "a torch device such as 'cpu' or 'cuda:0'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", device, "a device present on this machine", "CUDA is not available; use 'cpu'")
    return dev


def _epochs(cfg: dict[str, Any]) -> range:
    start, end, epoch = cfg["start_epoch"], cfg["end_epoch"], cfg["epoch"]
    if end is None:
        return range(start, start + (1 if epoch is None else epoch))
    if end <= start:
        raise ConfigError("train.end_epoch", end, f"an int > start_epoch ({start})")
    if epoch is not None and epoch != end - start:
        raise ConfigError("train.epoch", epoch, f"end_epoch - start_epoch ({end - start}) or unset")
    return range(start, end)


def _logits(output: Any) -> torch.Tensor:
    # Models with auxiliary heads return (logits, aux, ...); Hugging Face style outputs carry .logits.
    if isinstance(output, (tuple, list)):
        output = output[0]
    return getattr(output, "logits", output)


def _rng_devices(dev: torch.device) -> list[int]:
    return [dev.index or 0] if dev.type == "cuda" else []


def build_train_func(
    train: Mapping[str, Any], *, device: str = "cpu", seed: int = 42
) -> Callable[[torch.nn.Module], None]:
    """``train_func(model)`` training in place as the `train:` section says; raises ConfigError now if it is invalid."""
    cfg = parse_section(train, _TRAIN, "train")
    epochs, cap, frequency = _epochs(cfg), cfg["iteration"], cfg["frequency"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError("seed", seed, "an int")
    dev = _device(device)

    opt_name, opt_kwargs = single_entry(cfg["optimizer"], "train.optimizer", optimizer_registry)
    opt_path = f"train.optimizer.{opt_name}"
    make_optimizer = checked_factory(optimizer_registry, opt_name, opt_kwargs, opt_path, skip=1)
    # A trial construction on a placeholder parameter surfaces cross-field errors now, not at the first candidate.
    call_checked(make_optimizer, opt_path, [torch.nn.Parameter(torch.zeros(1))])
    crit_name, crit_kwargs = single_entry(cfg["criterion"], "train.criterion", criterion_registry)
    criterion = build_entry(criterion_registry, crit_name, crit_kwargs, f"train.criterion.{crit_name}").to(dev)
    loader = _build_loader(cfg["dataloader"], "train.dataloader")

    def train_func(model: torch.nn.Module) -> None:
        model.to(dev)
        model.train()
        optimizer = make_optimizer(model.parameters())
        batches = loader.make(torch.Generator().manual_seed(seed))
        # Dropout and friends draw from torch's global RNG: seed it inside a fork so the user's state is untouched.
        with torch.random.fork_rng(devices=_rng_devices(dev)):
            torch.default_generator.manual_seed(seed)
            if dev.type == "cuda":
                torch.cuda.manual_seed(seed)
            for epoch in epochs:
                total, steps = 0.0, 0
                for step, (inputs, labels) in enumerate(batches):
                    if cap is not None and step >= cap:
                        break
                    inputs, labels = inputs.to(dev), labels.to(dev)
                    loss = criterion(_logits(model(inputs)), labels)
                    if loss.ndim:  # reduction: none gives per-sample losses
                        loss = loss.mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                    if frequency and steps % frequency == 0:
                        logger.info("train epoch %d iteration %d: loss %.4f", epoch, steps, loss.item())
                logger.info("train epoch %d: mean loss %.4f over %d iterations", epoch, total / max(steps, 1), steps)

    return train_func


def build_eval_func(evaluation: Mapping[str, Any], *, device: str = "cpu") -> Callable[[torch.nn.Module], float]:
    """``eval_func(model) -> top-k accuracy`` in [0, 1] on the `evaluation.accuracy` dataloader."""
    cfg = parse_section(evaluation, _EVALUATION, "evaluation")
    accuracy = parse_section(cfg["accuracy"], _ACCURACY, "evaluation.accuracy")
    topk = parse_section(accuracy["metric"], _METRIC, "evaluation.accuracy.metric")["topk"]
    cap = accuracy["iteration"]
    if cfg["performance"]:
        logger.info("evaluation.performance is not used by NAS's built-in evaluation; ignoring it")
    dev = _device(device)
    loader = _build_loader(accuracy["dataloader"], "evaluation.accuracy.dataloader")

    def eval_func(model: torch.nn.Module) -> float:
        model.to(dev)
        model.eval()
        correct, seen = 0, 0
        with torch.no_grad():
            # Seeded so that a capped evaluation of a shuffled loader sees the same samples for every candidate.
            for step, (inputs, labels) in enumerate(loader.make(torch.Generator().manual_seed(0))):
                if cap is not None and step >= cap:
                    break
                logits = _logits(model(inputs.to(dev)))
                if logits.ndim != 2 or logits.shape[1] < topk:
                    raise ConfigError(
                        "evaluation.accuracy.metric.topk",
                        topk,
                        f"at most the model's number of classes (output shape {tuple(logits.shape)})",
                    )
                labels = labels.to(dev)
                hits = (logits.topk(topk, dim=1).indices == labels.unsqueeze(1)).any(dim=1)
                correct, seen = correct + int(hits.sum()), seen + labels.numel()
        return correct / seen

    return eval_func
