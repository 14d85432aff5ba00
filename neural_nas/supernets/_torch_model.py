"""A super-network backed by one torch model: built (weights loaded) once by `load`, then sliced by each extraction.

Importing this module needs no torch: the model is built on the first `load`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from neural_nas.supernets._base import SuperNetwork

if TYPE_CHECKING:
    from torch import nn


class TorchModelSuperNetwork(SuperNetwork):
    """Base of the super-networks whose sub-networks are extracted from one torch model.

    Construction stays cheap (the `SuperNetwork` contract): ``_model`` is None until a subclass's `load` builds it.
    """

    def __init__(self) -> None:
        self._model: nn.Module | None = None

    @property
    def model(self) -> nn.Module:
        """The loaded torch super-network (a RuntimeError before `load`: extracting then is a caller's bug)."""
        if self._model is None:
            raise RuntimeError(f"{self.name}: call load(...) before extracting sub-networks")
        return self._model
