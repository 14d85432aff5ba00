"""``transformer_lt_wmt_en_de``: the reference's Transformer-LT super-network for WMT'14 English-German.

HAT's super transformer (Wang et al., 2020) as DyNAS-T searches it: a six-layer encoder and a decoder of one to six
layers sharing one 32,768-symbol embedding table; per layer the feed-forward width, the attention heads and (decoder)
which encoder layers it attends to are elastic, and the embedding widths of each side. Measured in BLEU (higher is
better; the reference's ``acc`` means it here), MACs, parameters and latency; MACs and parameters are exact closed
forms (`counting`), BLEU and latency are measured on the extracted sub-network (`measurer`).

Weights: the reference's published checkpoint (``HAT_wmt14ende_super_space0.pt``; there is no download: set
``nas.dynas.supernet_ckpt_path`` or put it in the cache folder, `_weights.cache_dir`). Data: the fairseq data-bin the
reference reads (``nas.dynas.dataset_path``). A subclass with another `TransformerSpace` (``space = ...``) is a
smaller or larger super-network on the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets._torch_model import TorchModelSuperNetwork
from neural_nas.supernets.translation.counting import exact_macs_params
from neural_nas.supernets.translation.space import (
    DECODER_LAYER_GENES,
    WMT_EN_DE_SPACE,
    SubnetShape,
    TransformerSpace,
)

if TYPE_CHECKING:
    from torch import nn

    from neural_nas.measurements.context import MeasureContext
    from neural_nas.supernets.graphs import Graph

CKPT_FILE = "HAT_wmt14ende_super_space0.pt"
CKPT_SOURCE = (
    f"HAT's WMT'14 En-De super-network {CKPT_FILE} (linked from Intel Neural Compressor's Transformer_LT_Supernet_NAS "
    "notebook)"
)


@supernet_registry("transformer_lt_wmt_en_de")
class TransformerLTSuperNetwork(TorchModelSuperNetwork):
    name = "transformer_lt_wmt_en_de"
    space: ClassVar[TransformerSpace] = WMT_EN_DE_SPACE
    encoding = WMT_EN_DE_SPACE.encoding()
    metrics: ClassVar[tuple[str, ...]] = ("bleu", "macs", "params", "latency")
    inner_evals: ClassVar[int] = 10000
    exact_metric_names: ClassVar[tuple[str, ...]] = ("macs", "params")
    csv_metrics: ClassVar[tuple[str, ...]] = ("params", "latency", "macs", "bleu")
    metric_aliases: ClassVar[Mapping[str, str]] = {"acc": "bleu"}
    # What `TranslationMeasurer` reads (latency is timed on one sentence, as the reference: no batch size).
    measurement_settings: ClassVar[tuple[str, ...]] = (
        "dataset_path",
        "eval_batch_size",
        "test_fraction",
        "latency_warmup",
        "latency_steps",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "space" in cls.__dict__ and "encoding" not in cls.__dict__:
            cls.encoding = cls.space.encoding()

    def __init__(self) -> None:
        from neural_nas.predictors.features import gene_slice

        super().__init__()
        self._layer_count = gene_slice(self.encoding, "decoder_layer_num").start
        # Which column belongs to a decoder layer (its index) and which does not (-1): the genes of the layers a
        # sub-network does not run are zeroed in the predictors' features.
        self._gene_layer = np.full(self.encoding.n_genes, -1)
        for name in DECODER_LAYER_GENES:
            self._gene_layer[gene_slice(self.encoding, name)] = np.arange(self.space.decoder_layers)

    def _active(self, vectors: np.ndarray) -> np.ndarray:
        """Boolean (rows, genes): False for the genes of decoder layers a sub-network does not run."""
        layers = np.asarray(self.encoding.params["decoder_layer_num"]["vars"])[vectors[:, self._layer_count]]
        return (self._gene_layer[None, :] < 0) | (self._gene_layer[None, :] < layers[:, None])

    def features(self, vectors: np.ndarray) -> np.ndarray:
        """One-hot genes, with those of the decoder layers a sub-network does not run zeroed (one row per row; a
        single vector gives a single row, as the default)."""
        single = np.ndim(vectors) == 1
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        out = self.encoding.onehot(vectors) * np.repeat(self._active(vectors), self.encoding.cardinalities, axis=1)
        return out[0] if single else out

    def canonical(self, vectors: np.ndarray) -> np.ndarray:
        """The genes of decoder layers a sub-network does not run set to their first choice."""
        out = np.array(vectors, dtype=np.int64, ndmin=2)  # a copy
        out[~self._active(out)] = 0
        return out

    def n_networks(self) -> int:
        params = self.encoding.params
        per_layer = math.prod(len(params[name]["vars"]) for name in DECODER_LAYER_GENES)
        shared = [name for name in params if name not in DECODER_LAYER_GENES and name != "decoder_layer_num"]
        always = math.prod(len(params[name]["vars"]) ** params[name]["count"] for name in shared)
        return always * sum(per_layer**n for n in params["decoder_layer_num"]["vars"])

    def exact_metrics(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        if vectors.shape[1] != self.encoding.n_genes:
            raise ValueError(f"expected vectors of {self.encoding.n_genes} genes; got shape {vectors.shape}")
        return exact_macs_params(self.space, vectors)

    def measurer(self, ctx: MeasureContext) -> Any:
        from neural_nas.supernets.translation.measurer import TranslationMeasurer

        return TranslationMeasurer(self, ctx)

    def load(self, *, pretrained: bool, ckpt_path: str | None, device: str) -> None:
        """Build once; load the checkpoint when ``pretrained`` or when a ``ckpt_path`` is given: ``ckpt_path``, else
        ``CKPT_FILE`` in the cache. Nothing is downloaded."""
        if self._model is None:
            from neural_nas.supernets._weights import build_with_weights, checkpoint_for

            # The file first: a missing one fails before the build.
            path = checkpoint_for(CKPT_FILE, pretrained=pretrained, ckpt_path=ckpt_path, source=CKPT_SOURCE)
            from neural_nas.supernets.translation.checkpoint import load_super_weights

            description = f"{self.name}: {CKPT_SOURCE}, or a state dict of that architecture"
            self._model = build_with_weights(
                self.name, path, self.seeded_build, lambda model, p: load_super_weights(model, p, description)
            )
        self._model.to(device)

    def seeded_build(self) -> nn.Module:
        """A new, randomly initialised `SuperTransformer` (from a fixed seed in a forked RNG: reproducible, and the
        user's torch RNG is left alone)."""
        import torch

        from neural_nas.supernets.translation.model import SuperTransformer

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return SuperTransformer(self.space)

    def example_inputs(self) -> tuple:
        """One forward pass's inputs (for tracing a sub-network): ``(src_tokens, prev_output_tokens)`` of one sentence
        of ``sentence_length`` tokens, the sentence the reference measures MACs and latency on."""
        from neural_nas.supernets.translation.measurer import dummy_sentence

        return dummy_sentence(self.space.sentence_length)

    def export_graphs(self, module: Any) -> list[Graph]:
        """Two graphs, as a runtime translates: ``encoder`` and ``decoder_step`` (with its cache); see
        `neural_nas.supernets.translation.graphs`."""
        from neural_nas.supernets.translation.graphs import translation_graphs

        return translation_graphs(module, self.space.sentence_length)

    def input_contract(self) -> dict[str, Any]:
        from neural_nas.supernets.translation.data import EOS, PAD
        from neural_nas.supernets.translation.graphs import cache_slots

        return {
            "task": "English-German translation (WMT'14 En-De)",
            "inputs": "encoder: int64 src_tokens (N, length); decoder_step: the last token, the step, the encoder's "
            "outputs and the self-attention cache (see graphs); subnet.pt's module: (src_tokens, prev_output_tokens), "
            "one teacher-forced pass",
            "decoding": {
                "pad": PAD,
                "eos": EOS,
                "cache_slots": cache_slots(self.space.max_positions),
                "start": "the target starts with eos at step 0; stop at eos or after cache_slots - 1 tokens",
                "example": "examples/translate_exported.py (greedy, onnxruntime only or torch only)",
            },
            "preprocessing": "Moses-tokenised, BPE-segmented source sentences as ids of dict.en.txt, ending with the "
            "end-of-sentence id; the target prefix as ids of dict.de.txt, starting with it (fairseq's convention)",
            "vocabulary": "dict.en.txt and dict.de.txt of the data set (nas.dynas.dataset_path)",
            "outputs": "decoder_step: next-token log-probabilities over dict.de.txt (N, target vocabulary) and the "
            "updated cache; subnet.pt's module: logits (N, length, target vocabulary)",
        }

    def shape(self, subnet: Mapping[str, Any]) -> SubnetShape:
        """The dimensions of an encoded sub-network (a ConfigError for a gene value outside the table)."""
        return SubnetShape.of(self.space, subnet)

    def active_subnet(self, subnet: Mapping[str, Any]) -> nn.Module:
        """The standalone `Transformer` of ``subnet``, its weights sliced from the super-network's."""
        return self.model.extract(self.shape(subnet))
