"""The super-network protocol and its registry: what DyNAS needs from a weight-sharing super-network."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from neural_nas._registry import Registry
from neural_nas.errors import ConfigError
from neural_nas.supernets.encoding import Encoding

# Maps a name to a SuperNetwork subclass; ``supernet_registry.get(name)()`` gives a fresh, cheap instance.
supernet_registry: Registry[type[SuperNetwork]] = Registry("super-network", "nas.dynas.supernet")

CANONICAL_METRICS = ("accuracy_top1", "macs", "params", "latency")


class SuperNetwork:
    """A weight-sharing super-network and its search space.

    To plug in your own, subclass this, set the class attributes, implement `load` and `active_subnet`, and register
    the class: ``@supernet_registry("my_supernet")``. Then ``nas.dynas.supernet: my_supernet`` selects it. Nothing
    else in the library names super-networks.

    Class attributes
        ``name``: the registered name. ``encoding``: the `Encoding` of the genes (the search space).
        ``metrics``: the canonical metric names it can measure (from ``accuracy_top1``, ``macs``, ``params``,
        ``latency``). ``image_size``: the input resolution of every measurement.

    Timeline (who calls what, when)
        1. Construction happens when the search starts; it must be cheap: no torch model, no file, no network.
        2. `features` is called on every population the predictors fit or predict (thousands of rows per
           generation): keep it vectorised. The default is the one-hot of the genes.
        3. `exact_metrics` is called with the same populations to fill metrics that are exact and cheap (``macs``,
           ``params``) instead of predicting them. Return only what you can compute exactly; the default is none,
           and then those metrics are measured on the extracted sub-network (`measurements.counting`).
        4. `subnet_record` / `parse_record` convert between the encoded dict and the ``Sub-network`` column of the
           results CSV, when a row is written and when an earlier CSV is loaded to resume.
        5. `load` is called once, before the first measurement that needs the torch model (accuracy, latency).
        6. `active_subnet` is called once per measured sub-network and returns a standalone ``torch.nn.Module``.
    """

    name: ClassVar[str] = ""
    encoding: ClassVar[Encoding]
    metrics: ClassVar[tuple[str, ...]] = CANONICAL_METRICS
    image_size: ClassVar[int] = 224
    # Predicted evaluations of the evolutionary search per loop, unless `nas.dynas.inner_evals` is set.
    inner_evals: ClassVar[int] = 20000

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, genes={self.encoding.n_genes})"

    def features(self, vectors: np.ndarray) -> np.ndarray:
        """Predictor features of a population of choice-index vectors (rows)."""
        return self.encoding.onehot(vectors)

    def exact_metrics(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """``{metric: values}`` (one value per row) for the metrics this super-network computes exactly and cheaply."""
        return {}

    def subnet_record(self, subnet: Mapping[str, Any]) -> dict:
        """The ``Sub-network`` column of the results CSV for an encoded sub-network dict."""
        return {name: [_plain(v) for v in subnet[name]] for name in self.encoding.params}

    def parse_record(self, record: Mapping[str, Any] | str) -> dict:
        """The encoded sub-network dict of a ``Sub-network`` record (a dict, or its Python literal as in the CSV)."""
        try:
            if isinstance(record, str):
                record = ast.literal_eval(record)
            return self.encoding.vector_to_dict(self.encoding.dict_to_vector(record))
        except (ValueError, TypeError, SyntaxError) as err:
            raise ConfigError(
                "Sub-network", record, f"a sub-network of {self.name} ({self.encoding.params})", hint=str(err)
            ) from err

    def measure(self, subnet: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, float]:
        """Optional: measure a sub-network yourself and return ``{metric: value}`` for at least ``metrics``.

        Override it for a search space measured by your own code (a simulator, a lookup table, a remote device);
        then `load` and `active_subnet` are never called. Not overridden, the library measures the sub-network
        extracted by `active_subnet` (exact tables first, then counted MACs/params, latency and accuracy).
        """
        raise NotImplementedError

    def load(self, *, pretrained: bool, ckpt_path: str | None, device: str) -> None:
        """Build the torch super-network (once) on ``device``; load its weights unless ``pretrained`` is False."""
        raise NotImplementedError(f"{type(self).__name__} cannot build a torch super-network")

    def active_subnet(self, subnet: Mapping[str, Any]) -> Any:
        """The standalone ``torch.nn.Module`` of a sub-network (encoded dict), weights copied from the super-network."""
        raise NotImplementedError(f"{type(self).__name__} cannot extract sub-networks")


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so a record's literal reads back anywhere."""
    return value.item() if isinstance(value, np.generic) else value


def create_supernet(name: str) -> SuperNetwork:
    """A fresh instance of the super-network registered as ``name`` (ConfigError with suggestions if unknown)."""
    return supernet_registry.get(name)()
