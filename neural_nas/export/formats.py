"""The file formats a sub-network is exported in, each a registered pair: how to write a graph, how to run the file.

- ``pt2`` (the default): a ``torch.export`` program; ``torch.export.load(path).module()`` runs it, torch only;
- ``onnx``: ONNX from ``torch.onnx.export(dynamo=True)``; onnxruntime runs it (``pip install 'neural-nas[onnx]'``);
- ``torchscript``: ``torch.jit.trace`` (deprecated by PyTorch, kept for runtimes that still load it);
- ``hf``: a Hugging Face model folder of a language sub-network (``hf_causal_lm``), which
  ``AutoModelForCausalLM.from_pretrained`` loads (``pip install 'neural-nas[llm]'``).

``run(path)`` loads a file the way its user would, without this library, and gives a function from torch input
tensors to the outputs as numpy arrays: the parity check (`neural_nas.export.parity`) compares those with the module.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neural_nas._registry import Registry
from neural_nas.supernets.graphs import Graph

Runner = Callable[..., list[np.ndarray]]


@dataclass(frozen=True)
class ExportFormat:
    """A file format: its file suffix, how to ``write`` a graph into a path and how to ``run`` the file back."""

    name: str
    suffix: str
    write: Callable[[Graph, Path], None]
    run: Callable[[Path], Runner]
    needs: tuple[str, ...] = ()  # modules beyond torch
    extra: str = ""  # the extra of this library that installs them

    def require(self) -> None:
        """Fail before any work when a module the format needs is missing, saying what to install."""
        for module in self.needs:
            try:
                importlib.import_module(module)
            except ImportError as err:
                install = f"pip install 'neural-nas[{self.extra}]'" if self.extra else f"pip install {module}"
                raise ImportError(f"export format '{self.name}' needs {module}: {install}") from err


format_registry: Registry[ExportFormat] = Registry("export format", "--format")


def register(fmt: ExportFormat) -> ExportFormat:
    format_registry.register(fmt.name, fmt)
    return fmt


def resolve(formats: str | Sequence[str]) -> list[ExportFormat]:
    """The formats named (one name, names separated by commas as on the command line, or a list of names), each
    known and with what it needs installed: checked before any work."""
    names = [name.strip() for name in formats.split(",")] if isinstance(formats, str) else list(formats)
    chosen = [format_registry.get(name) for name in names if name]
    for fmt in chosen:
        fmt.require()
    return chosen


def as_numpy(outputs: Any) -> list[np.ndarray]:
    """A module's output (a tensor, or a tuple or list of them) as a flat list of numpy arrays."""
    items = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return [o.detach().cpu().numpy() for o in items]


def _dynamic_shapes(graph: Graph) -> tuple[Any, ...]:
    """torch.export's ``dynamic_shapes``: one ``Dim`` per axis name, shared by the inputs that have that axis."""
    from torch.export import Dim

    dims: dict[str, Any] = {}
    shapes = []
    for name in graph.input_names:
        axes = graph.dynamic.get(name, {})
        for d in axes.values():
            if d not in dims:
                low, high = graph.bounds.get(d, (None, None))
                dims[d] = Dim(d, min=low, max=high)
        shapes.append({axis: dims[d] for axis, d in axes.items()} or None)
    # A forward(a, b, *rest) takes its trailing inputs as one argument: so must their shapes.
    parameters = inspect.signature(graph.module.forward).parameters.values()
    fixed = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return (*shapes[: len(fixed)], tuple(shapes[len(fixed) :]))
    return tuple(shapes)


def _write_pt2(graph: Graph, path: Path) -> None:
    import torch

    program = torch.export.export(graph.module, graph.inputs, dynamic_shapes=_dynamic_shapes(graph))
    torch.export.save(program, path)


def _run_pt2(path: Path) -> Runner:
    import torch

    module = torch.export.load(path).module()

    def run(*inputs: Any) -> list[np.ndarray]:
        with torch.no_grad():
            return as_numpy(module(*inputs))

    return run


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """The exporter prints progress lines, warns and logs each graph pass: none of it is the user's business."""
    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _write_onnx(graph: Graph, path: Path) -> None:
    import torch

    with _quiet_onnx_exporter():
        torch.onnx.export(
            graph.module,
            graph.inputs,
            str(path),
            dynamo=True,
            dynamic_shapes=_dynamic_shapes(graph),
            input_names=list(graph.input_names),
            output_names=list(graph.output_names),
            external_data=False,
        )


def _run_onnx(path: Path) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*inputs: Any) -> list[np.ndarray]:
        return list(session.run(None, {n: t.detach().cpu().numpy() for n, t in zip(names, inputs)}))

    return run


def _write_torchscript(graph: Graph, path: Path) -> None:
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PyTorch deprecates TorchScript; its files still load
        torch.jit.trace(graph.module, graph.inputs).save(str(path))


def _run_torchscript(path: Path) -> Runner:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path))

    def run(*inputs: Any) -> list[np.ndarray]:
        with torch.no_grad():
            return as_numpy(module(*inputs))

    return run


def _write_hf(graph: Graph, path: Path) -> None:
    from neural_nas.supernets.lm.export import write_hf_folder

    write_hf_folder(graph, path)


def _run_hf(path: Path) -> Runner:
    from neural_nas.supernets.lm.export import run_hf_folder

    return run_hf_folder(path)


register(ExportFormat("pt2", ".pt2", _write_pt2, _run_pt2))
register(ExportFormat("onnx", ".onnx", _write_onnx, _run_onnx, ("onnx", "onnxscript", "onnxruntime"), "onnx"))
register(ExportFormat("torchscript", ".torchscript.pt", _write_torchscript, _run_torchscript))
# A Hugging Face model folder (language models: `neural_nas.supernets.lm.export`).
register(ExportFormat("hf", "_hf", _write_hf, _run_hf, ("transformers", "safetensors"), "llm"))

DEFAULT_FORMATS = ("pt2",)
