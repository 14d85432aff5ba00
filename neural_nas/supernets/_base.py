"""The super-network protocol and its registry: what DyNAS needs from a weight-sharing super-network."""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neural_nas._registry import Registry
from neural_nas.errors import ConfigError
from neural_nas.measurements.context import IMAGE_CLASSIFICATION_SETTINGS
from neural_nas.measurements.metrics import DYNAST_CSV_METRICS, metric_registry
from neural_nas.supernets.encoding import Encoding

if TYPE_CHECKING:
    from neural_nas.measurements.context import MeasureContext, Measurer
    from neural_nas.supernets.graphs import Graph

# Maps a name to a SuperNetwork subclass; ``supernet_registry.get(name)()`` gives a fresh, cheap instance.
supernet_registry: Registry[type[SuperNetwork]] = Registry("super-network", "nas.dynas.supernet")

CANONICAL_METRICS = ("accuracy_top1", "macs", "params", "latency")


class SuperNetwork:
    """A weight-sharing super-network and its search space.

    To plug in your own, subclass this, set the class attributes, implement `load` and `active_subnet`, and register
    the class: ``@supernet_registry("my_supernet")``. Then ``nas.dynas.supernet: my_supernet`` selects it. Nothing
    else in the library names super-networks.

    Class attributes (the contract: declared, never guessed)
        ``name``: the registered name. ``encoding``: the `Encoding` of the genes (the search space).
        ``metrics``: the canonical metric names it can measure (registered in
        `neural_nas.measurements.metric_registry`). ``image_size``: the input resolution of every measurement.
        ``measures_itself``: True if `measure` measures a sub-network (then the library never extracts one).
        ``exact_metric_names``: the metrics `exact_metrics` computes exactly and cheaply (never predicted).
        ``csv_metrics``: the metric columns of a new results CSV, in order (other searched metrics follow them).
        ``measurement_settings``: the ``nas.dynas`` measurement keys (`measurements.context.MEASUREMENT_KEYS`) its
        measurement reads; one set in a config but not read is a warning. Image classification's by default; none for
        a super-network that measures itself, unless it declares them.
        ``metric_aliases``: names that mean one of its metrics for this super-network only (the reference's ``acc``
        is top-1 for image classifiers, SST-2 accuracy for BERT, BLEU for the translation transformer).

    Timeline (who calls what, when)
        1. Construction happens when the search starts; it must be cheap: no torch model, no file, no network.
        2. `features` is called on every population the predictors fit or predict (thousands of rows per
           generation): keep it vectorised. The default is the one-hot of the genes.
        3. `exact_metrics` is called with the same populations to fill the ``exact_metric_names`` (e.g. ``macs``,
           ``params``) instead of predicting them. The default declares none, and then those metrics are measured
           on the extracted sub-network (`measurements.counting`).
        4. `subnet_record` / `parse_record` convert between the encoded dict and the ``Sub-network`` column of the
           results CSV, when a row is written and when an earlier CSV is loaded to resume.
        5. `load` is called once, before the first measurement of a metric that is not exact (accuracy, latency),
           with the configured weights and device (also for a super-network that measures itself).
        6. `measure` (``measures_itself = True``) or `active_subnet` (otherwise) is called once per measured
           sub-network; `active_subnet` returns a standalone ``torch.nn.Module``. How the extracted module is
           measured is `measurer` (built once per search, before step 5): image classification by default.
    """

    name: ClassVar[str] = ""
    encoding: ClassVar[Encoding]
    metrics: ClassVar[tuple[str, ...]] = CANONICAL_METRICS
    image_size: ClassVar[int] = 224
    # Predicted evaluations of the evolutionary search per loop, unless `nas.dynas.inner_evals` is set.
    inner_evals: ClassVar[int] = 20000
    measures_itself: ClassVar[bool] = False
    exact_metric_names: ClassVar[tuple[str, ...]] = ()
    csv_metrics: ClassVar[tuple[str, ...]] = DYNAST_CSV_METRICS
    metric_aliases: ClassVar[Mapping[str, str]] = {}
    measurement_settings: ClassVar[tuple[str, ...]] = IMAGE_CLASSIFICATION_SETTINGS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "measure" in cls.__dict__ and not cls.measures_itself:
            raise TypeError(f"{cls.__name__} defines measure(): declare `measures_itself = True` in the class as well")
        if cls.measures_itself and cls.measure is SuperNetwork.measure:
            raise TypeError(f"{cls.__name__} declares measures_itself = True: define measure(subnet, metrics) as well")
        declared = any("measurement_settings" in vars(k) for k in cls.__mro__ if k not in (SuperNetwork, object))
        if cls.measures_itself and not declared:
            cls.measurement_settings = ()  # its own measure() reads none of the library's settings unless it says so

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, genes={self.encoding.n_genes})"

    @classmethod
    def for_settings(cls, settings: Any) -> SuperNetwork:
        """An instance for the ``nas.dynas`` section ``settings`` (None when there is none). The search space of most
        super-networks is fixed: the default ignores them. One whose space comes from its weights (a model folder's
        config) reads what it needs here, cheaply (construction's contract)."""
        return cls()

    def serves(self, settings: Any) -> bool:
        """Whether this instance is the one `for_settings` would give for ``settings`` (a search keeps it then)."""
        return True

    def settings_record(self) -> dict[str, Any]:
        """The ``nas.dynas`` settings `for_settings` read (a saved sub-network records them to rebuild its shapes)."""
        return {}

    def canonical_metric(self, name: str) -> str:
        """The canonical metric ``name`` means for this super-network (its own aliases first, then the registry's)."""
        key = name.strip().lower()
        own = self.metric_aliases.get(key) or metric_registry.resolve(key, self.metrics)
        return own or metric_registry.canonical(key)

    def features(self, vectors: np.ndarray) -> np.ndarray:
        """Predictor features of a population of choice-index vectors (rows)."""
        return self.encoding.onehot(vectors)

    def exact_metrics(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """``{metric: values}`` (one value per row) for each of the ``exact_metric_names``."""
        return {}

    def canonical(self, vectors: np.ndarray) -> np.ndarray:
        """The canonical form of each row: one encoding per distinct network (the default: every encoding is one).

        Super-networks whose inactive genes change nothing (the blocks beyond a stage's depth) set those genes to
        their first choice, so that a search measures each network once and records it under one encoding."""
        return np.array(vectors, dtype=np.int64, ndmin=2)

    def n_networks(self) -> int:
        """How many distinct networks the search space holds (distinct canonical forms)."""
        return math.prod(int(c) for c in self.encoding.cardinalities)

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

        Define it (and ``measures_itself = True``) for a search space measured by your own code (a simulator, a
        lookup table, a remote device); then `active_subnet` is never called. Otherwise the library measures the
        sub-network extracted by `active_subnet` (exact tables first, then counted MACs/params, latency, accuracy).
        """
        raise NotImplementedError(f"{type(self).__name__} does not measure sub-networks itself")

    def load(self, *, pretrained: bool, ckpt_path: str | None, device: str) -> None:
        """Build the torch super-network (once) on ``device``; load its weights unless ``pretrained`` is False.

        The default does nothing: a super-network that measures itself may have no weights at all."""

    def measurer(self, ctx: MeasureContext) -> Measurer:
        """How extracted sub-networks are measured (`neural_nas.measurements.context`): called once per search, after
        `exact_metrics` and before `load`; a data set that cannot be used fails here.

        The default is image classification: exact metrics from `exact_metrics`, MACs/params counted on the
        ``image_size`` input, latency on image batches, top-1 on ``nas.dynas.dataset_path`` (ImageFolder)."""
        from neural_nas.measurements.pipeline import image_classification_measurer

        return image_classification_measurer(self, ctx)

    def standalone(self, subnet: Mapping[str, Any], ctx: MeasureContext) -> Any:
        """The sub-network as a model in hand (`neural_nas.export`): `active_subnet` plus whatever makes its weights
        usable on their own. The default recalibrates BatchNorm statistics on ``dataset_path``'s training images."""
        from neural_nas.measurements.pipeline import image_classification_standalone

        return image_classification_standalone(self, subnet, ctx)

    def deployed(self, module: Any, subnet: Mapping[str, Any], ctx: MeasureContext) -> Any:
        """The model the exported files compute, from `standalone`'s ``module``: the model the search measured. The
        default is ``module`` itself; a quantization super-network gives the int8 model of its policy."""
        return module

    def example_inputs(self) -> tuple:
        """Inputs of one forward pass of a sub-network (for tracing an exported one): an image batch of one."""
        import torch

        return (torch.zeros(1, 3, self.image_size, self.image_size),)

    def export_graphs(self, module: Any) -> list[Graph]:
        """How a sub-network (``module``, from `deployed`) leaves the library (`neural_nas.supernets.graphs`): the
        default is one graph, ``module(*example_inputs())`` with a dynamic batch axis (inputs named ``images`` when
        there is one, else ``input_0``, ...)."""
        from neural_nas.supernets.graphs import batch_graph

        examples = self.example_inputs()
        return [batch_graph(module, examples, ["images"] if len(examples) == 1 else None)]

    def input_contract(self) -> dict[str, Any]:
        """What an exported sub-network takes and gives, written into ``subnet.json``: a user of the file needs it to
        feed the model as the search measured it (the default: ImageNet-style image classification)."""
        from neural_nas.measurements.image_folder import IMAGENET_MEAN, IMAGENET_STD

        return {
            "task": "image classification",
            "inputs": f"float32 RGB images (N, 3, {self.image_size}, {self.image_size})",
            "preprocessing": f"resize the shorter side to 256, center crop {self.image_size}, scale to [0, 1], "
            "subtract mean and divide by std per channel",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "outputs": "class logits (N, classes)",
        }

    def active_subnet(self, subnet: Mapping[str, Any]) -> Any:
        """The standalone ``torch.nn.Module`` of a sub-network (encoded dict), weights copied from the super-network."""
        if self.measures_itself:  # it measures, but has no torch module to give (to export, to standalone)
            raise ConfigError(
                "nas.dynas.supernet",
                self.name,
                "a super-network that extracts sub-networks (active_subnet) for this",
                f"{type(self).__name__} measures its sub-networks itself and extracts none; define active_subnet() "
                "to export them",
            )
        raise ConfigError(
            "nas.dynas.supernet",
            self.name,
            "a super-network that extracts sub-networks (active_subnet) or measures itself (measures_itself = True "
            "and measure())",
            f"{type(self).__name__} does neither",
        )


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so a record's literal reads back anywhere."""
    return value.item() if isinstance(value, np.generic) else value


def create_supernet(name: str, settings: Any = None) -> SuperNetwork:
    """A fresh instance of the super-network registered as ``name`` (ConfigError with suggestions if unknown), for
    the ``nas.dynas`` section ``settings`` (`SuperNetwork.for_settings`).

    A class that does not set ``name`` is known by the name it was registered under (messages, records)."""
    supernet = supernet_registry.get(name).for_settings(settings)
    if not supernet.name:
        supernet.name = supernet_registry.canonical(name)
    return supernet
