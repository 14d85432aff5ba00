"""Helpers that build MAC/param lookup tables of OFA super-networks, on the ``meta`` device (shapes only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from neural_nas.measurements.counting import count_params, macs_from_positions, output_positions


def meta_supernet(supernet: Any) -> nn.Module:
    """The torch super-network on the ``meta`` device: shapes flow through it, no arithmetic is done."""
    with torch.device("meta"):
        return supernet.build().to("meta")


def input_shapes(net: nn.Module, modules: Sequence[nn.Module], image_size: int) -> list[tuple[int, ...]]:
    """The input shape each of ``modules`` sees in a forward pass of ``net`` on a 1x3xSxS image (``None``: not run)."""
    shapes: list[Any] = [None] * len(modules)
    handles = []
    for i, module in enumerate(modules):

        def hook(_m: nn.Module, args: tuple, i: int = i) -> None:
            shapes[i] = tuple(args[0].shape)

        handles.append(module.register_forward_pre_hook(hook))
    device = next(net.parameters()).device
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


class VariantCounter:
    """(macs, params) of the variants of one layer at one input resolution (on the ``meta`` device).

    OFA variants of a layer differ in channels and in 'same'-padded kernel sizes, never in spatial sizes, so one forward
    pass gives every conv/linear layer's output positions, and later variants with the same layer names are counted
    from their weight shapes alone. A variant with a layer not seen before gets its own forward pass.
    """

    def __init__(self, spatial: Sequence[int]) -> None:
        self.spatial = tuple(spatial)
        self._positions: dict[str, int] | None = None

    def __call__(self, module: nn.Module, in_channels: int) -> tuple[int, int]:
        macs = None if self._positions is None else macs_from_positions(module, self._positions)
        if macs is None:
            shape = (1, in_channels, *self.spatial)
            self._positions = output_positions(module, torch.zeros(shape, device="meta"))
            macs = macs_from_positions(module, self._positions)
        return int(macs), count_params(module)
