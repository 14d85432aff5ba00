"""What the OFA super-networks share: lazy building, weights, sub-network extraction, cached MAC/param tables.

Importing this module (and so registering the OFA super-networks) needs neither torch nor ofa: they are imported when
a model or a table is first built.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neural_nas.supernets._torch_model import TorchModelSuperNetwork
from neural_nas.supernets._weights import build_with_weights, checkpoint_for, load_weights

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger("neural_nas")

OFA_URL = "https://raw.githubusercontent.com/han-cai/files/master/ofa/ofa_nets/"

# Lookup tables are the same for every instance of a class: build them once per process.
_TABLES: dict[type, Any] = {}
_TABLES_LOCK = threading.Lock()


class OFASuperNetwork(TorchModelSuperNetwork):
    """Base of the OFA families. Subclasses set ``weights_file``/``weights_url`` and implement `build`,
    `_subnet_kwargs` (encoded dict -> ``set_active_subnet`` arguments) and `_build_tables` / `_exact_from_tables`."""

    weights_file: ClassVar[str]
    weights_url: ClassVar[str | None]
    exact_metric_names: ClassVar[tuple[str, ...]] = ("macs", "params")

    def build(self) -> nn.Module:
        """A new, randomly initialised torch super-network (on the CPU)."""
        raise NotImplementedError

    def _subnet_kwargs(self, subnet: Mapping[str, Any]) -> dict[str, list]:
        raise NotImplementedError

    def _build_tables(self) -> Any:
        raise NotImplementedError

    def _exact_from_tables(self, tables: Any, vectors: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def seeded_build(self) -> nn.Module:
        import torch

        # A fixed seed in a forked RNG: random init is reproducible and the user's global torch RNG is left alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return self.build()

    def load(self, *, pretrained: bool, ckpt_path: str | None, device: str, download: bool = True) -> None:
        """Build once; load weights when ``pretrained`` (or when an explicit ``ckpt_path`` is given)."""
        if self._model is None:
            # The file first: a missing one fails before the (slow) build.
            path = self.checkpoint_path(pretrained=pretrained, ckpt_path=ckpt_path, download=download)
            description = f"super-network {self.name}"
            self._model = build_with_weights(
                self.name, path, self.seeded_build, lambda model, p: load_weights(model, p, description)
            )
        self._model.to(device)

    def checkpoint_path(self, *, pretrained: bool, ckpt_path: str | None, download: bool) -> Path | None:
        """The weights file to load (None: random initialisation): ``ckpt_path``, else the cache or a download."""
        return checkpoint_for(
            self.weights_file, pretrained=pretrained, ckpt_path=ckpt_path, url=self.weights_url, download=download
        )

    def active_subnet(self, subnet: Mapping[str, Any]) -> nn.Module:
        model = self.model
        model.set_active_subnet(**self._subnet_kwargs(self.parse_record(subnet)))
        return model.get_active_subnet(preserve_weight=True).eval()

    def exact_metrics(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """Exact ``macs`` (at ``image_size``) and ``params`` of the extracted sub-networks, by table lookups."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        if vectors.shape[1] != self.encoding.n_genes:
            raise ValueError(f"expected vectors of {self.encoding.n_genes} genes; got shape {vectors.shape}")
        return self._exact_from_tables(self.tables(), vectors)

    def tables(self) -> Any:
        cls = type(self)
        with _TABLES_LOCK:
            if cls not in _TABLES:
                import torch

                start = time.perf_counter()
                # Layers built while counting are created on the meta device: no memory, no random init.
                with torch.device("meta"):
                    _TABLES[cls] = self._build_tables()
                logger.info("MAC/param tables of %s built in %.2f s", self.name, time.perf_counter() - start)
            return _TABLES[cls]

    def _genes(self, vectors: np.ndarray, param: str) -> np.ndarray:
        """Columns of ``param`` in a population of index vectors."""
        start = 0
        for name, spec in self.encoding.params.items():
            if name == param:
                return vectors[:, start : start + spec["count"]]
            start += spec["count"]
        raise KeyError(param)

    def _values(self, vectors: np.ndarray, param: str) -> np.ndarray:
        return np.asarray(self.encoding.params[param]["vars"])[self._genes(vectors, param)]
