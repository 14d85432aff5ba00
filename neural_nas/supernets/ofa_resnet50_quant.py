"""OFA ResNet-50 searched together with a post-training quantization policy per layer.

Genes: OFA ResNet-50's ``d``, ``e`` and ``w`` (`ofa_resnet50`), then ``q_bits`` x61 in [8, 32] and ``q_weights_mode``
x61 in ['symmetric', 'asymmetric']: one pair per convolution of the largest sub-network, in module order (the stem's
three, then per block ``conv1``, ``conv2``, ``conv3`` and, in the first block of each stage, the ``downsample``
convolution). The genes of the layers a sub-network drops (the stem's residual block unless ``d[0]`` is 2, the blocks
cut by ``d[1:]``) are carried but have no effect. 8 bits: int8 weights (per output channel, symmetric or asymmetric as
the gene says) and int8 input activations; 32: the layer stays float. The classifier is always float.

``params`` (of the float sub-network) and ``model_size`` (MB of the quantized model's stored tensors) are exact, by
table lookups; top-1 and latency are measured on the quantized model (`neural_nas.measurements.quantized`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from neural_nas.errors import ConfigError
from neural_nas.measurements.context import IMAGE_CLASSIFICATION_SETTINGS
from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets.encoding import Encoding
from neural_nas.supernets.ofa_resnet50 import OFAResNet50, ResNetTables

if TYPE_CHECKING:
    from torch import nn

    from neural_nas.measurements.context import MeasureContext, Measurer
    from neural_nas.supernets.graphs import Graph

N_LAYERS = 61
# Bytes of what the quantized model stores, per layer. An int8 convolution: one byte per weight; per output channel a
# float64 scale, an int64 zero point and a float32 bias; a float32 output scale and an int64 output zero point. A float
# convolution (BatchNorm folded in): four bytes per weight and per bias. Each int8 input that is not already int8 (its
# producer is float) gets a quantize step that stores a float32 scale and an int64 zero point.
_INT8_PER_CHANNEL = 8 + 8 + 4
_SCALE_AND_ZERO_POINT = 4 + 8

# The parity bound of an exported int8 model, relative to its logits' scale (`neural_nas.export.parity`). Runtimes
# round some activations to the next int8 step (fused int8 kernels, another summation order) and each such step
# propagates through the layers after it; the measured differences: benchmarks/RESULTS.md, "Int8 export".
INT8_PARITY = 0.05
# Registers torch.ops.quantized_decomposed (PyTorch's quantize / dequantize steps), which `torch.export.load` needs.
QDQ_OPERATORS = "torch.ao.quantization.fx._decomposed"


@dataclass(frozen=True)
class QuantTables(ResNetTables):
    """`ofa_resnet50`'s tables plus what the quantized size needs: weights and output channels of each layer."""

    layer_stem: np.ndarray  # [layer 0-2, w0, w1, (weights, out channels)]
    layer_blocks: np.ndarray  # [block, input width, e, output width, conv1/conv2/conv3/downsample, (weights, out ch.)]
    head_params: np.ndarray  # [w of the last stage]: classifier weights + biases (always float)
    layer_block: np.ndarray  # block of each layer (-1 for the stem's three)
    layer_slot: np.ndarray  # conv1/conv2/conv3/downsample slot of each block layer
    producer: np.ndarray  # layer whose output feeds each layer directly (-1: none, or a float operation between)


@supernet_registry("inc_quantization_ofa_resnet50")
class OFAResNet50Quant(OFAResNet50):
    name = "inc_quantization_ofa_resnet50"
    inner_evals = 10000  # the reference's budget for this super-network
    encoding = Encoding(
        {
            **OFAResNet50.encoding.params,
            "q_bits": {"count": N_LAYERS, "vars": [8, 32]},
            "q_weights_mode": {"count": N_LAYERS, "vars": ["symmetric", "asymmetric"]},
        }
    )
    metrics = ("accuracy_top1", "model_size", "params", "latency")
    exact_metric_names = ("params", "model_size")
    csv_metrics = ("params", "latency", "model_size", "accuracy_top1")
    measurement_settings = (*IMAGE_CLASSIFICATION_SETTINGS, "mp_calibration_samples")

    def subnet_record(self, subnet: dict) -> dict:
        plain = super().subnet_record(subnet)
        # The reference's key order: wid, d, e, w, r, q_bits, q_weights_mode.
        keys = ("d", "e", "w", "r", "q_bits", "q_weights_mode")
        return {"wid": None, **{key: plain[key] for key in keys}}

    def measurer(self, ctx: MeasureContext) -> Measurer:
        """Quantize each sub-network per its policy, then measure top-1 and latency of the int8 model (CPU)."""
        from neural_nas.measurements.quantized import quantized_measurer

        return quantized_measurer(self, ctx)

    def quantizable_layers(self, module: nn.Module) -> list[str]:
        """Names of the quantizable convolutions of an extracted sub-network, in gene order (active layers only)."""
        from torch import nn

        return [n for n, m in module.named_modules() if type(m) is nn.Conv2d and n.endswith(".conv")]

    def quantize(
        self,
        module: nn.Module,
        subnet: dict,
        calibration: Iterable[Any],
        guard: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> nn.Module:
        """The int8 model of ``module`` (the extracted float ``subnet``) under the sub-network's policy, its activation
        ranges calibrated on the ``calibration`` batches. Call it under `quantization.quantized_engine`. ``guard``
        wraps what runs the sub-network's own code (`quantization.quantize`)."""
        from neural_nas.measurements.quantization import quantize

        layers, policy = self.quantizable_layers(module), self.policy(subnet)
        if len(layers) != len(policy):  # the gene-to-layer order is this class's: a mismatch is a bug
            raise RuntimeError(f"{len(layers)} quantizable layers in the sub-network, {len(policy)} policy genes")
        plan = dict(zip(layers, policy))
        example = self.example_inputs()[0]
        return quantize(module, plan, calibration, example, self.pooling_follows(layers), guard=guard)

    def deployed(self, module: nn.Module, subnet: dict, ctx: MeasureContext) -> nn.Module:
        """The int8 model the search measured, for export: ``module`` (the float sub-network, BatchNorm recalibrated)
        quantized per its policy, calibrated on the first ``mp_calibration_samples`` training images as in
        `neural_nas.measurements.quantized`, in standard operators (`quantization.to_qdq`): torch.export and ONNX
        (QuantizeLinear / DequantizeLinear) take it. ``module`` is left as it is."""
        import copy

        from neural_nas.measurements.pipeline import accuracy_evaluator
        from neural_nas.measurements.quantization import quantized_engine, select_engine, to_qdq

        why = "its first training images calibrate the int8 model's activation ranges, as in the search"
        evaluator = accuracy_evaluator(self, ctx, why, device="cpu")
        calibration = list(evaluator.calibration_images(ctx.conf.mp_calibration_samples))
        with quantized_engine(select_engine()):
            return to_qdq(self.quantize(copy.deepcopy(module), subnet, calibration))

    def export_graphs(self, module: nn.Module) -> list[Graph]:
        """One graph, as other image classifiers, of the int8 model (`deployed`): a float module is refused, its
        files would not compute what the search measured."""
        import torch

        if not isinstance(module, torch.fx.GraphModule):
            raise ConfigError(
                "module",
                type(module).__name__,
                "the sub-network's int8 model (neural_nas.export.deployed_subnet)",
                "the files of a quantization super-network compute the int8 model the search measured: "
                "save_subnet(module, supernet, subnet, out, deployed=deployed_subnet(config, module, subnet))",
            )
        graphs = super().export_graphs(module)
        return [replace(g, tolerance=INT8_PARITY, torch_imports=(QDQ_OPERATORS,)) for g in graphs]

    def input_contract(self) -> dict[str, Any]:
        return {
            **super().input_contract(),
            "model": "int8 where the policy (q_bits, q_weights_mode) says 8 bits, as quantize/dequantize steps around "
            "float convolutions; activation ranges calibrated on the first mp_calibration_samples training images",
        }

    def pooling_follows(self, layers: list[str]) -> dict[str, str]:
        """The pooling modules that read a quantizable layer's output: the stem's max pooling and the first block's
        downsample pooling read the stem's last convolution (`quantization.quantize`'s ``follows``)."""
        stem_last = [name for name in layers if name.startswith("input_stem.")][-1]
        return {"max_pooling": stem_last, "blocks.0.downsample.avg_pool": stem_last}

    def active_layers(self, vectors: np.ndarray) -> np.ndarray:
        """Boolean ``[rows, 61]``: which quantizable layers each sub-network has (the others' genes do nothing)."""
        t = self.tables()
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        d = self._values(vectors, "d")
        stem = np.stack([np.ones(len(d), bool), t.stem_block_active(d), np.ones(len(d), bool)], axis=1)
        return np.concatenate([stem, t.active_blocks(d)[:, t.layer_block[3:]]], axis=1)

    def policy(self, subnet: dict) -> list[tuple[int, str]]:
        """``(bits, weight mode)`` of each layer the sub-network has, in gene order."""
        subnet = self.parse_record(subnet)
        active = self.active_layers(self.encoding.dict_to_vector(subnet)[None, :])[0]
        pairs = zip(subnet["q_bits"], subnet["q_weights_mode"])
        return [pair for pair, keep in zip(pairs, active) if keep]

    def canonical(self, vectors: np.ndarray) -> np.ndarray:
        """`ofa_resnet50`'s canonical form, plus the policy genes that do nothing at their first choice: both genes of
        the layers the sub-network does not have, the weight mode of its float layers."""
        out = super().canonical(vectors)
        active = self.active_layers(out)
        self._genes(out, "q_bits")[~active] = 0
        self._genes(out, "q_weights_mode")[~(active & (self._values(out, "q_bits") == 8))] = 0
        return out

    def n_networks(self) -> int:
        """Distinct (sub-network, effective policy) pairs: each layer a sub-network has is int8 symmetric, int8
        asymmetric or float."""
        t = self.tables()
        n_e, n_w = len(self.encoding.params["e"]["vars"]), len(self.encoding.params["w"]["vars"])
        total = (3**3 + 3**2) * n_w ** self.encoding.params["w"]["count"]  # the stem: residual block kept or not
        for stage in range(self.encoding.params["d"]["count"] - 1):
            in_stage = t.stage == stage
            length = int(t.stage_len[in_stage][0])
            layers = np.bincount(t.layer_block[3:])[in_stage]  # quantizable layers of each block of the stage
            options = 0
            for depth in self.encoding.params["d"]["vars"]:
                kept = t.blocks_kept(length, depth)
                options += n_e**kept * 3 ** int(layers[:kept].sum())
            total *= options
        return total

    def features(self, vectors: np.ndarray) -> np.ndarray:
        """One-hot of the canonical form: genes that do nothing (dropped blocks and layers, the weight mode of float
        layers) do not change the features."""
        single = np.ndim(vectors) == 1
        onehot = self.encoding.onehot(self.canonical(vectors))
        return onehot[0] if single else onehot

    def _build_tables(self) -> QuantTables:
        from neural_nas.supernets._ofa_tables import meta_supernet

        resnet = super()._build_tables()
        net = meta_supernet(self)
        n_w = len(self.encoding.params["w"]["vars"])
        e_vars = self.encoding.params["e"]["vars"]
        stem0, stem1, stem2 = net.input_stem

        stem = np.zeros((3, n_w, n_w, 2), np.int64)
        for w0, mid in enumerate(stem0.out_channel_list):
            stem0.active_out_channel = stem1.conv.active_out_channel = mid
            first = stem0.get_active_subnet(3, preserve_weight=False).conv
            residual = stem1.conv.get_active_subnet(mid, preserve_weight=False).conv
            stem[0, w0, :] = first.weight.numel(), first.out_channels
            stem[1, w0, :] = residual.weight.numel(), residual.out_channels
            for w1, out in enumerate(stem2.out_channel_list):
                stem2.active_out_channel = out
                last = stem2.get_active_subnet(mid, preserve_weight=False).conv
                stem[2, w0, w1] = last.weight.numel(), last.out_channels

        blocks = np.zeros((len(net.blocks), n_w, len(e_vars), n_w, 4, 2), np.int64)
        for b, block in enumerate(net.blocks):
            for i, cin in enumerate(block.in_channel_list):
                for k, e in enumerate(e_vars):
                    for o, cout in enumerate(block.out_channel_list):
                        block.active_expand_ratio, block.active_out_channel = e, cout
                        sub = block.get_active_subnet(cin, preserve_weight=False)
                        convs = [sub.conv1.conv, sub.conv2.conv, sub.conv3.conv, getattr(sub.downsample, "conv", None)]
                        for slot, conv in enumerate(convs):
                            if conv is not None:
                                blocks[b, i, k, o, slot] = conv.weight.numel(), conv.out_channels
        head_params = np.array([cin * 1000 + 1000 for cin in net.classifier.in_features_list], np.int64)

        layer_block, layer_slot, producer = [-1, -1, -1], [-1, -1, -1], [-1, 0, -1]  # stem2: see _model_size
        for b, position in enumerate(resnet.position):
            first = len(layer_block)
            slots = 4 if position == 0 else 3
            layer_block += [b] * slots
            layer_slot += list(range(slots))
            producer += [-1, first, first + 1] + [-1] * (slots - 3)  # conv2 reads conv1, conv3 reads conv2
        # The first block's conv1 and downsample read the stem's last convolution through int8-following pooling.
        producer[3] = producer[6] = 2
        if len(layer_block) != N_LAYERS:
            raise RuntimeError(f"OFA ResNet-50 has {len(layer_block)} quantizable layers, not {N_LAYERS}")
        return QuantTables(
            **{f.name: getattr(resnet, f.name) for f in fields(ResNetTables)},
            layer_stem=stem,
            layer_blocks=blocks,
            head_params=head_params,
            layer_block=np.array(layer_block),
            layer_slot=np.array(layer_slot),
            producer=np.array(producer),
        )

    def _exact_from_tables(self, t: QuantTables, vectors: np.ndarray) -> dict[str, np.ndarray]:
        params = super()._exact_from_tables(t, vectors)["params"]
        return {"params": params, "model_size": self._model_size(t, vectors) / 1e6}

    def _model_size(self, t: QuantTables, vectors: np.ndarray) -> np.ndarray:
        """Bytes of the quantized model's state dict tensors (see the byte counts at the top of this module)."""
        e, w = self._genes(vectors, "e"), self._genes(vectors, "w")
        rows = np.arange(len(vectors))[:, None]
        per_block = t.layer_blocks[np.arange(len(t.stage))[None, :], w[:, t.in_gene], e, w[:, 2 + t.stage]]
        block_layers = per_block[:, t.layer_block[3:], t.layer_slot[3:]]  # [rows, 58, 2]
        stem = t.layer_stem
        stem_layers = np.stack([stem[0, w[:, 0], 0], stem[1, w[:, 0], 0], stem[2, w[:, 0], w[:, 1]]], axis=1)
        layers = np.concatenate([stem_layers, block_layers], axis=1)
        weights, channels = layers[..., 0], layers[..., 1]

        active = self.active_layers(vectors)
        is_int8 = (self._values(vectors, "q_bits") == 8) & active
        is_float = ~(self._values(vectors, "q_bits") == 8) & active
        size = (is_int8 * (weights + _INT8_PER_CHANNEL * channels + _SCALE_AND_ZERO_POINT)).sum(axis=1)
        size += (is_float * 4 * (weights + channels)).sum(axis=1)
        # An int8 layer reads int8 from an int8 producer; otherwise its input is quantized first.
        producer = np.broadcast_to(t.producer, is_int8.shape).copy()
        producer[:, 2] = np.where(active[:, 1], -1, 0)  # stem2 reads the residual sum, or stem0 when that block is cut
        fed_int8 = np.where(producer >= 0, is_int8[rows, np.maximum(producer, 0)], False)
        size += _SCALE_AND_ZERO_POINT * (is_int8 & ~fed_int8).sum(axis=1)
        size += 4 * t.head_params[w[:, -1]]
        return size
