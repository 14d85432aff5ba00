"""Drop-in import path of the reference: ``from neural_nas.data import Datasets``.

``Datasets("pytorch")`` is the table of the built-in datasets that the YAML ``dataloader.dataset`` section knows
(`neural_nas.training.dataset_registry`): ``Datasets("pytorch")["dummy"](shape=(32, 3, 64, 64), label=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from neural_nas.errors import ConfigError

FRAMEWORKS = ("pytorch", "pytorch_fx", "pytorch_ipex")  # the reference's names for the PyTorch back ends


class Datasets(Mapping[str, Callable[..., Any]]):
    """Name -> dataset factory (keyword settings -> ``torch.utils.data.Dataset``), for one framework (PyTorch)."""

    def __init__(self, framework: str) -> None:
        if framework not in FRAMEWORKS:
            raise ConfigError("framework", framework, f"one of {', '.join(FRAMEWORKS)} (neural_nas runs on PyTorch)")
        from neural_nas.training import dataset_registry

        self.framework = framework
        self._registry = dataset_registry

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self._registry.get(name)  # an unknown name: a ConfigError listing the registered datasets

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.names())

    def __len__(self) -> int:
        return len(self._registry.names())


DATASETS = Datasets  # the name of Neural Compressor 1.x and early 2.x

__all__ = ["DATASETS", "Datasets"]
