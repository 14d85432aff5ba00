"""``subnet.json``, the model card of an exported sub-network: everything a user of the files needs, nothing to guess.

What it is (super-network, sub-network), how good (the metrics measured in the search, exact MACs and parameters),
how to feed it (the input contract: shapes, normalisation, vocabulary; each graph's named inputs and outputs), how
faithful each file is (the parity check's figures) and what wrote it (library, torch and runtime versions).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from neural_nas.export.parity import Parity
from neural_nas.supernets.graphs import Graph

CARD_FORMAT = "neural_nas.model_card/1"


def versions(formats: Sequence[str]) -> dict[str, str]:
    """The versions that wrote the files (and run them: onnx and onnxruntime for an ONNX export)."""
    packages = ["neural-nas", "torch"] + (["onnx", "onnxruntime"] if "onnx" in formats else [])
    packages += ["transformers", "safetensors"] if "hf" in formats else []
    out = {"python": platform.python_version()}
    for package in packages:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed as a package"
    return out


def megabytes(path: Path) -> float:
    """A file's size, or the sum of a folder's files (a Hugging Face model folder)."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    return path.stat().st_size / 1e6


def model_card(
    supernet: Any,
    record: Mapping[str, Any],
    graphs: Sequence[Graph],
    *,
    metrics: Mapping[str, float],
    exact: Mapping[str, float],
    reason: str,
    parity: Mapping[str, Mapping[str, Parity]],
    files: Mapping[str, Path],
) -> dict[str, Any]:
    """The card's entries, in the order they are written."""
    return {
        "format": CARD_FORMAT,
        "supernet": supernet.name,
        "subnet": dict(record),
        "metrics": dict(metrics),
        "exact_metrics": dict(exact),
        "chosen_because": reason,
        "input": supernet.input_contract(),
        "graphs": {g.name: g.contract() for g in graphs},
        "parity": {fmt: {name: p.as_record() for name, p in by_graph.items()} for fmt, by_graph in parity.items()},
        "files": {kind: path.name for kind, path in files.items()},
        "file_megabytes": {kind: megabytes(path) for kind, path in files.items() if path.exists()},
        "versions": versions(list(parity)),
    }


def card_text(card: Mapping[str, Any]) -> str:
    """One line per entry: a sub-network's gene lists stay readable on one line each."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in card.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"
