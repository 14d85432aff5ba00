"""``bert_base_sst2``: an elastic BERT-base fine-tuned on GLUE SST-2, the reference's text classification super-network.

Genes, in the reference's order: ``num_layers`` x1 in [6..12] (the first layers run), ``num_attention_heads`` x12 in
[6, 8, 10, 12] and ``intermediate_size`` x12 in [1024, 2048, 3072] (one per layer; the first heads and feed-forward
units of that layer are kept). Genes of layers beyond ``num_layers`` change nothing.

Metrics: ``accuracy_sst2`` (a fraction in [0, 1], as the reference reports it; ``acc`` means it here), exact ``macs``
and ``params`` in closed form (`bert_shape`: the reference's convention, one padded sequence of
``max_seq_length`` tokens), and ``latency`` of a padded batch. Accuracy is measured on ``dataset_path/dev.tsv`` with
the vocabulary ``vocab.txt`` found in ``dataset_path`` or beside the checkpoint (`sst2_data`).

Weights: the reference's checkpoint (``{'model': state dict}`` in Hugging Face ``BertForSequenceClassification``
names) at ``nas.dynas.supernet_ckpt_path``, or in the cache as ``bert_base_sst2.pt``; nothing is downloaded.

A smaller BERT of the same code (tests, demonstrations): subclass with another ``shape`` and an ``encoding`` made by
`bert_encoding` whose choices fit it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets._torch_model import TorchModelSuperNetwork
from neural_nas.supernets.encoding import Encoding
from neural_nas.supernets.text.bert_shape import BERT_BASE, BertShape, bert_costs

if TYPE_CHECKING:
    from torch import nn

    from neural_nas.measurements.context import MeasureContext, Measurer
    from neural_nas.supernets.graphs import Graph


def bert_encoding(
    layer_choices: Sequence[int], head_choices: Sequence[int], ffn_choices: Sequence[int], max_layers: int
) -> Encoding:
    """The genes of an elastic BERT of ``max_layers`` layers, in the reference's order."""
    return Encoding(
        {
            "num_layers": {"count": 1, "vars": list(layer_choices)},
            "num_attention_heads": {"count": max_layers, "vars": list(head_choices)},
            "intermediate_size": {"count": max_layers, "vars": list(ffn_choices)},
        }
    )


@supernet_registry("bert_base_sst2")
class BertSST2SuperNetwork(TorchModelSuperNetwork):
    name = "bert_base_sst2"
    shape: ClassVar[BertShape] = BERT_BASE
    encoding = bert_encoding(range(6, 13), [6, 8, 10, 12], [1024, 2048, 3072], BERT_BASE.num_layers)
    metrics = ("accuracy_sst2", "macs", "params", "latency")
    exact_metric_names = ("macs", "params")
    csv_metrics = ("params", "latency", "macs", "accuracy_sst2")
    metric_aliases: ClassVar[Mapping[str, str]] = {"acc": "accuracy_sst2"}
    # The reference's evaluation: sequences of 128 tokens, lower-cased (BERT-base uncased).
    max_seq_length: ClassVar[int] = 128
    lowercase: ClassVar[bool] = True
    weights_file: ClassVar[str] = "bert_base_sst2.pt"

    # What `TextClassificationMeasurer` reads (no data loader workers, no BatchNorm calibration).
    measurement_settings: ClassVar[tuple[str, ...]] = (
        "dataset_path",
        "batch_size",
        "eval_batch_size",
        "test_fraction",
        "latency_warmup",
        "latency_steps",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        s, p = cls.shape, cls.encoding.params
        fits = (
            p["num_attention_heads"]["count"] == p["intermediate_size"]["count"] == s.num_layers
            and max(p["num_layers"]["vars"]) <= s.num_layers
            and min(p["num_layers"]["vars"]) >= 1
            and 1 <= min(p["num_attention_heads"]["vars"]) <= max(p["num_attention_heads"]["vars"]) <= s.num_heads
            and 1 <= min(p["intermediate_size"]["vars"]) <= max(p["intermediate_size"]["vars"]) <= s.intermediate_size
            and cls.max_seq_length <= s.max_position_embeddings
        )
        if not fits:
            raise TypeError(f"{cls.__name__}: the genes {p} do not fit the shape {s}")

    def __init__(self) -> None:
        from neural_nas.predictors.features import gene_slice

        super().__init__()
        # Column ranges of the genes in a choice-index vector.
        self._layers = gene_slice(self.encoding, "num_layers")
        self._heads = gene_slice(self.encoding, "num_attention_heads")
        self._ffn = gene_slice(self.encoding, "intermediate_size")

    def _values(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        if vectors.shape[1] != self.encoding.n_genes:
            raise ValueError(f"expected vectors of {self.encoding.n_genes} genes; got shape {vectors.shape}")
        p = self.encoding.params
        layers = np.asarray(p["num_layers"]["vars"])[vectors[:, self._layers.start]]
        heads = np.asarray(p["num_attention_heads"]["vars"])[vectors[:, self._heads]]
        ffn = np.asarray(p["intermediate_size"]["vars"])[vectors[:, self._ffn]]
        return layers, heads, ffn

    def exact_metrics(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """Exact ``macs`` (one sequence of ``max_seq_length`` tokens) and ``params``, in the reference's convention."""
        macs, params = bert_costs(self.shape, self.max_seq_length, *self._values(vectors))
        return {"macs": macs, "params": params}

    def _inactive(self, vectors: np.ndarray) -> np.ndarray:
        """Boolean (rows, genes): True for the genes of layers a sub-network does not run."""
        layers = self._values(vectors)[0]
        inactive = np.arange(self.shape.num_layers)[None, :] >= layers[:, None]
        gene_off = np.zeros(vectors.shape, dtype=bool)
        gene_off[:, self._heads] = gene_off[:, self._ffn] = inactive
        return gene_off

    def canonical(self, vectors: np.ndarray) -> np.ndarray:
        """The genes of layers a sub-network does not run set to their first choice."""
        out = np.array(vectors, dtype=np.int64, ndmin=2)  # a copy
        out[self._inactive(out)] = 0
        return out

    def n_networks(self) -> int:
        per_layer = len(self.encoding.params["num_attention_heads"]["vars"]) * len(
            self.encoding.params["intermediate_size"]["vars"]
        )
        return sum(per_layer**n for n in self.encoding.params["num_layers"]["vars"])

    def features(self, vectors: np.ndarray) -> np.ndarray:
        """One-hot genes, the genes of layers that do not run zeroed: sub-networks that differ only there are one."""
        single = np.ndim(vectors) == 1
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        gene_off = self._inactive(vectors)
        onehot = self.encoding.onehot(vectors)
        onehot[np.repeat(gene_off, self.encoding.cardinalities, axis=1)] = 0.0
        return onehot[0] if single else onehot

    def measurer(self, ctx: MeasureContext) -> Measurer:
        """Text classification: SST-2 dev accuracy, latency of a padded token batch (`measurer`)."""
        from neural_nas.supernets.text.measurer import TextClassificationMeasurer

        return TextClassificationMeasurer(self, ctx)

    def load(self, *, pretrained: bool, ckpt_path: str | None, device: str) -> None:
        """Build once (randomly initialised from a fixed seed); load the checkpoint when ``pretrained`` or when a
        ``ckpt_path`` is given. Nothing is downloaded: the reference's checkpoint is not published for download."""
        if self._model is None:
            from neural_nas.supernets._weights import build_with_weights, checkpoint_for

            # The file first: a missing one fails before the (slow) build.
            path = checkpoint_for(self.weights_file, pretrained=pretrained, ckpt_path=ckpt_path)
            from neural_nas.supernets.text.bert_model import build_supernet, load_checkpoint

            description = f"super-network {self.name} ({self.shape})"
            self._model = build_with_weights(
                self.name,
                path,
                lambda: build_supernet(self.shape),
                lambda model, p: load_checkpoint(model, p, description),
            )
        self._model.to(device)

    def example_inputs(self) -> tuple:
        """One forward pass's inputs (for tracing a sub-network): ``(input_ids, attention_mask, token_type_ids)`` of
        one sequence of ``max_seq_length`` tokens, every position attended."""
        import torch

        ids = torch.zeros((1, self.max_seq_length), dtype=torch.long)
        return ids, torch.ones_like(ids), ids

    def export_graphs(self, module: Any) -> list[Graph]:
        """One graph: ``(input_ids, attention_mask, token_type_ids) -> logits``, batch and sequence length dynamic
        (up to ``max_seq_length``); the parity check feeds padded sentences of random lengths within the vocabulary."""
        import torch

        from neural_nas.supernets.graphs import Graph, batched

        names = ("input_ids", "attention_mask", "token_type_ids")
        vocab = self.shape.vocab_size

        def sentences(rng: np.random.Generator) -> tuple:
            batch, length = int(rng.integers(1, 5)), int(rng.integers(2, self.max_seq_length + 1))
            ids = torch.from_numpy(rng.integers(0, vocab, (batch, length)))
            real = torch.from_numpy(rng.integers(1, length + 1, (batch, 1)))
            mask = (torch.arange(length)[None, :] < real).long()
            return ids * mask, mask, torch.zeros_like(ids)

        return [
            Graph(
                name="subnet",
                module=module,
                inputs=batched(self.example_inputs()),
                input_names=names,
                output_names=("logits",),
                samples=sentences,
                dynamic={n: {0: "batch", 1: "sequence"} for n in names},
                bounds={"sequence": (2, self.max_seq_length)},
            )
        ]

    def input_contract(self) -> dict[str, Any]:
        return {
            "task": "sentiment classification (GLUE SST-2)",
            "inputs": f"int64 (input_ids, attention_mask, token_type_ids), each (N, {self.max_seq_length})",
            "preprocessing": f"BERT WordPiece tokens of vocab.txt ({'lower-cased' if self.lowercase else 'cased'} "
            f"text), [CLS] sentence [SEP], padded with [PAD] to {self.max_seq_length}; attention_mask 1 on tokens, "
            "0 on padding; token_type_ids 0",
            "vocabulary": "vocab.txt of the data set (nas.dynas.dataset_path) or beside the checkpoint",
            "outputs": f"logits (N, {self.shape.num_labels}) of the labels: 0 negative, 1 positive",
        }

    def active_subnet(self, subnet: Mapping[str, Any]) -> nn.Module:
        """The standalone sub-network (a `BertClassifier`), its tensors copied from the super-network's."""
        from neural_nas.supernets.text.bert_model import extract_subnet

        subnet = self.parse_record(subnet)
        return extract_subnet(
            self.model, subnet["num_layers"][0], subnet["num_attention_heads"], subnet["intermediate_size"]
        )
