"""Drop-in for the reference's ``neural_compressor.experimental.common``: ``common.Model(torch_module)``.

Scripts written for the reference wrap what their model builder returns in ``common.Model``; here that is a
``torch.nn.Module`` that runs the wrapped module (so the built-in and the user's train/eval functions take it as it is)
and gives it back as ``.model``, as the reference's wrapper did.
"""

from __future__ import annotations

from typing import Any

import torch

from neural_nas.errors import ConfigError


class Model(torch.nn.Module):
    """``Model(torch_module)``: the module, wrapped; ``.model`` is the module itself."""

    def __init__(self, root: Any, **kwargs: Any) -> None:
        if not isinstance(root, torch.nn.Module):
            raise ConfigError(
                "common.Model", type(root).__name__, "a torch.nn.Module (neural_nas searches PyTorch models)"
            )
        super().__init__()
        self._wrapped = root
        self.kwargs = kwargs

    @property
    def model(self) -> torch.nn.Module:
        return self._wrapped

    @property
    def framework(self) -> str:
        return "pytorch"

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapped(*args, **kwargs)


__all__ = ["Model"]
