"""Per-layer post-training static quantization of a float model with PyTorch's FX tooling (``torch.ao``), on the CPU.

A policy names layers (``Conv2d`` modules) and gives each its bits: 8 quantizes that layer's weights (int8, per output
channel, symmetric or asymmetric) and its input activations (uint8, per tensor, asymmetric, ranges from a histogram of
the calibration images); 32 leaves it in float, as every layer the policy does not name. BatchNorm layers are folded
into the convolutions before quantizing (float ones too), so the converted model is the one that is measured and saved.

Imported only when a quantized model is built (it imports torch).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from neural_nas.errors import ConfigError

# PyTorch CPU back ends with int8 convolution kernels on x86-64, in order of preference (`x86` picks FBGEMM or oneDNN
# per operator); both run per-channel asymmetric int8 weights, which the policies need. ARM's ``qnnpack`` is not used:
# the quantized graphs are only tested with these two.
INT8_ENGINES = ("x86", "fbgemm")
WEIGHT_MODES = ("symmetric", "asymmetric")
BITS = (8, 32)


def select_engine(supported: Sequence[str] | None = None) -> str:
    """The quantized engine to use: the first of `INT8_ENGINES` this PyTorch build supports, else a ConfigError."""
    if supported is None:
        supported = torch.backends.quantized.supported_engines
    for engine in INT8_ENGINES:
        if engine in supported:
            return engine
    raise ConfigError(
        "quantization back end",
        ", ".join(e for e in supported if e != "none") or "none",
        f"one of {', '.join(INT8_ENGINES)} (PyTorch's int8 CPU kernels for x86-64)",
        "this PyTorch build has no x86 int8 kernels: run on an x86-64 machine with a regular PyTorch wheel "
        "(pip install torch --index-url https://download.pytorch.org/whl/cpu), which includes FBGEMM",
    )


@contextlib.contextmanager
def quantized_engine(engine: str) -> Iterator[None]:
    """Use ``engine`` for quantized kernels for the duration (packed weights belong to the engine that packed them)."""
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = before


@contextlib.contextmanager
def _quiet_torch_ao() -> Iterator[None]:
    # torch.ao warns on every call that it is deprecated in favour of torchao, and about observer arguments it
    # sets itself; the warnings say nothing about the model being quantized.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.ao\.quantization")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*(reduce_range|quantize_per_tensor)")
        yield


def _qconfig(weight_mode: str):  # -> torch.ao.quantization.QConfig
    from torch.ao.quantization import HistogramObserver, PerChannelMinMaxObserver, QConfig

    if weight_mode not in WEIGHT_MODES:
        raise ConfigError("q_weights_mode", weight_mode, f"one of {list(WEIGHT_MODES)}")
    scheme = torch.per_channel_symmetric if weight_mode == "symmetric" else torch.per_channel_affine
    # Activations: 7-bit range as PyTorch's own x86 default, so the int8 kernels cannot overflow on CPUs without VNNI.
    activation = HistogramObserver.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=True)
    weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=scheme)
    return QConfig(activation=activation, weight=weight)


def check_policy(policy: Mapping[str, tuple[int, str]]) -> None:
    """ConfigError unless every layer's policy is (8 or 32 bits, a known weight mode)."""
    for bits, mode in policy.values():
        if bits not in BITS:
            raise ConfigError("q_bits", bits, f"one of {list(BITS)}")
        if mode not in WEIGHT_MODES:
            raise ConfigError("q_weights_mode", mode, f"one of {list(WEIGHT_MODES)}")


def quantize(
    model: nn.Module,
    policy: Mapping[str, tuple[int, str]],
    calibration: Iterable[torch.Tensor],
    example: torch.Tensor,
    follows: Mapping[str, str] | None = None,
    guard: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> torch.fx.GraphModule:
    """The int8 model of float ``model`` (in eval mode, on the CPU) under ``policy``.

    ``policy``: ``{module name: (bits, weight mode)}`` for the quantizable layers; a layer at 32 bits and every module
    not named stay float. ``calibration``: input batches whose activation ranges set the int8 scales. ``example``: an
    input that traces the model. Run it (and the result) under `quantized_engine`. ``guard``: a context manager around
    what runs the model's own code (tracing, calibration), e.g. ``lambda: measuring(subnet)``.

    ``follows``: ``{pooling module: layer}`` for a pooling module that reads that layer's output (directly or through
    other such modules): it runs in int8 when the layer does. FX passes an int8 tensor through a pooling module
    unchanged whatever its setting, so one left float after an int8 layer would hand int8 to the next layer.
    """
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    check_policy(policy)
    modules = dict(model.named_modules())
    unknown = [name for name in policy if name not in modules]
    if unknown:
        raise ConfigError("policy", unknown, "names of the model's modules (model.named_modules())")
    mapping = QConfigMapping()  # global None: what the policy does not name stays float
    for name, (bits, mode) in policy.items():
        mapping.set_module_name(name, _qconfig(mode) if bits == 8 else None)
    for name, layer in (follows or {}).items():
        if name not in modules or layer not in policy:
            raise ConfigError("follows", {name: layer}, "{pooling module of the model: a layer of the policy}")
        bits, mode = policy[layer]
        mapping.set_module_name(name, _qconfig(mode) if bits == 8 else None)
    model.eval()
    with _quiet_torch_ao(), torch.no_grad():
        with guard():  # the model's own code runs here: FX traces its forward pass, then calibration runs it
            prepared = prepare_fx(model, mapping, example_inputs=(example,))
            for batch in calibration:
                prepared(batch)
        return convert_fx(prepared)


def int8_layers(model: nn.Module) -> list[str]:
    """Names of the modules of a converted model that run int8 convolution or linear kernels."""
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.quantized as nnq

    kernels = (nnq.Conv2d, nnq.Linear, nniq.ConvReLU2d, nniq.LinearReLU, nniq.ConvAdd2d, nniq.ConvAddReLU2d)
    return [name for name, module in model.named_modules() if isinstance(module, kernels)]


# -- the int8 model in a form other runtimes load -----------------------------------------------------------------
# PyTorch's int8 modules hold packed weights that torch.export (and so ONNX) cannot trace. `to_qdq` rewrites a
# converted model into standard operators: quantize / dequantize steps (`quantized_decomposed`, which torch.export
# keeps and ONNX writes as QuantizeLinear / DequantizeLinear) around float convolutions whose int8 weights are
# dequantized per output channel, with the converted model's own scales and zero points. Activations stay uint8
# between layers, as in the converted model; onnxruntime fuses the pairs back into int8 kernels.


def _decomposed() -> Any:
    import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers torch.ops.quantized_decomposed)

    return torch.ops.quantized_decomposed


class QDQConv2d(nn.Module):
    """An int8 convolution (optionally followed by ReLU) as dequantize -> float conv -> quantize."""

    def __init__(self, conv: nn.Module, input_qparams: tuple[float, int], relu: bool) -> None:
        super().__init__()
        weight = conv.weight()
        self.register_buffer("weight_int8", weight.int_repr())
        self.register_buffer("weight_scales", weight.q_per_channel_scales().float())
        self.register_buffer("weight_zero_points", weight.q_per_channel_zero_points().long())
        bias = conv.bias()
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.input_qparams = input_qparams
        self.output_qparams = (float(conv.scale), int(conv.zero_point))
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qd = _decomposed()
        x = qd.dequantize_per_tensor(x, *self.input_qparams, 0, 255, torch.uint8)
        w = qd.dequantize_per_channel(
            self.weight_int8, self.weight_scales, self.weight_zero_points, 0, -128, 127, torch.int8
        )
        y = nn.functional.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.relu:
            y = nn.functional.relu(y)
        return qd.quantize_per_tensor(y, *self.output_qparams, 0, 255, torch.uint8)


class QDQPool(nn.Module):
    """A pooling module that the converted model runs on int8 input: dequantize -> pool -> quantize, same scale."""

    def __init__(self, pool: nn.Module, qparams: tuple[float, int]) -> None:
        super().__init__()
        self.pool, self.qparams = pool, qparams

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qd = _decomposed()
        x = qd.dequantize_per_tensor(x, *self.qparams, 0, 255, torch.uint8)
        return qd.quantize_per_tensor(self.pool(x), *self.qparams, 0, 255, torch.uint8)


def to_qdq(converted: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A converted int8 model (`quantize`) rewritten into standard operators (the comment above); it computes the
    same outputs. It is rewritten in place: pass a copy to keep the converted one. A quantized module this rewrite does
    not know (only convolutions, with or without ReLU, and pooling run int8 in the policies here) is an error."""
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.quantized as nnq

    qd = _decomposed()
    graph, modules = converted.graph, dict(converted.named_modules())
    qparams: dict[torch.fx.Node, tuple[float, int]] = {}  # of each node whose output is a uint8 tensor

    def value(arg: Any) -> Any:
        return converted.get_buffer(arg.target) if isinstance(arg, torch.fx.Node) else arg

    def replace(node: torch.fx.Node, target: Any, args: tuple) -> torch.fx.Node:
        with graph.inserting_after(node):
            new = graph.call_function(target, args)
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        return new

    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch.quantize_per_tensor:
            x, scale, zero_point, _ = node.args
            params = (float(value(scale)), int(value(zero_point)))
            qparams[replace(node, qd.quantize_per_tensor.default, (x, *params, 0, 255, torch.uint8))] = params
        elif node.op == "call_method" and node.target == "dequantize":
            source = node.args[0]
            replace(node, qd.dequantize_per_tensor.default, (source, *qparams[source], 0, 255, torch.uint8))
        elif node.op == "call_module":
            module = modules[node.target]
            if type(module) in (nnq.Conv2d, nniq.ConvReLU2d):
                converted.set_submodule(
                    node.target, QDQConv2d(module, qparams[node.args[0]], type(module) is nniq.ConvReLU2d)
                )
                qparams[node] = (float(module.scale), int(module.zero_point))
            elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) and node.args and node.args[0] in qparams:
                converted.set_submodule(node.target, QDQPool(module, qparams[node.args[0]]))
                qparams[node] = qparams[node.args[0]]
            elif type(module).__module__.startswith(("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized")):
                raise NotImplementedError(f"{node.target}: {type(module).__name__} has no standard-operator form here")
    graph.lint()
    converted.recompile()
    return converted
