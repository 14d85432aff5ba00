"""Exact multiply-accumulates and parameter counts of any torch module, by forward hooks.

The convention is fvcore's for its conv and linear operators (what DyNAS-T reported as MACs): each output element of a
convolution or linear layer costs one multiply-accumulate per weight that feeds it, so a layer costs
``weight elements * output positions`` (positions: output elements per output channel). Biases, normalisation,
activations and pooling cost nothing. Parameters are the elements of the module's distinct parameters.

Only ``nn.Conv1d/2d/3d`` and ``nn.Linear`` modules are seen: a layer that calls ``torch.nn.functional`` on sliced
weights (an OFA super-network's elastic layers) is not counted: count the extracted sub-network, not the super-network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def count_params(model: nn.Module) -> int:
    """Number of parameter elements, each shared tensor counted once."""
    return int(sum(p.numel() for p in model.parameters()))


def output_positions(model: nn.Module, inputs: torch.Tensor | Sequence[int]) -> dict[str, int]:
    """For each conv/linear module that runs, by name: its output elements per output channel (summed over calls).

    ``inputs`` is a tensor or a shape (filled with zeros on the model's device; the ``meta`` device works and does no
    arithmetic).
    """
    positions: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, _LAYERS):
            channel_dim = -1 if isinstance(module, nn.Linear) else 1

            def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor, name: str = name, dim: int = channel_dim) -> None:
                positions[name] = positions.get(name, 0) + out.numel() // out.shape[dim]

            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        if not isinstance(inputs, torch.Tensor):
            param = next(model.parameters(), None)
            inputs = torch.zeros(tuple(inputs), device=param.device if param is not None else "cpu")
        # eval(): BatchNorm must not update its running statistics (nor fail on a batch of one).
        model.eval()
        with torch.no_grad():
            model(inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return positions


def macs_from_positions(model: nn.Module, positions: Mapping[str, int]) -> int | None:
    """MACs of ``model`` given `output_positions` of a model with the same layer names and the same spatial sizes
    (e.g. a variant that differs only in channels or 'same'-padded kernel size); ``None`` if a layer is missing."""
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, _LAYERS):
            if name not in positions:
                return None
            total += positions[name] * module.weight.numel()
    return int(total)


def count_macs(model: nn.Module, inputs: torch.Tensor | Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on ``inputs`` (a tensor, or a shape filled with zeros).

    A conv/linear layer that exists but never runs costs nothing.
    """
    positions = output_positions(model, inputs)
    layers = {name: m for name, m in model.named_modules() if isinstance(m, _LAYERS) and name in positions}
    return int(sum(positions[name] * m.weight.numel() for name, m in layers.items()))


def count_macs_params(model: nn.Module, input_size: torch.Tensor | Sequence[int] = (1, 3, 224, 224)) -> tuple[int, int]:
    """``(macs, params)`` of ``model`` for one forward pass at ``input_size`` (default one 224x224 RGB image)."""
    return count_macs(model, input_size), count_params(model)
