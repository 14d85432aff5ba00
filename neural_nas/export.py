"""From a chosen sub-network to a model in hand, and to files that outlive the search.

`standalone_subnet` extracts a sub-network of a Dynamic NAS configuration's super-network with its weights, made usable
on their own (BatchNorm recalibrated where the super-network needs it: `SuperNetwork.standalone`). `save_subnet`
writes it three ways into a folder:

- ``subnet.pt``: weights only, ``{"format", "supernet", "subnet", "state_dict"}``: plain tensors, strings and numbers,
  so ``torch.load(path, weights_only=True)`` reads it; `load_subnet` rebuilds the module with this library.
- ``subnet.torchscript.pt``: the traced module; ``torch.jit.load(path)`` runs it without this library installed.
- ``subnet.json``: the super-network, the architecture, its measured metrics and why it was chosen.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neural_nas.config import NASConfig
from neural_nas.errors import ConfigError
from neural_nas.results import write_atomic

logger = logging.getLogger("neural_nas")

FORMAT = "neural_nas.subnet/1"
WEIGHTS_FILE, TORCHSCRIPT_FILE, JSON_FILE = "subnet.pt", "subnet.torchscript.pt", "subnet.json"


def standalone_subnet(config: NASConfig, subnet: Mapping[str, Any], *, supernet: Any = None) -> nn.Module:
    """The sub-network ``subnet`` (a dict, or its ``Sub-network`` literal) of ``config``'s super-network, on the CPU,
    with the configured weights (``nas.dynas.pretrained`` / ``supernet_ckpt_path``) and usable on its own."""
    from neural_nas.measurements.context import MeasureContext
    from neural_nas.supernets import create_supernet

    name = config.dynas.supernet
    if name is None:
        raise ConfigError("nas.dynas.supernet", None, "the super-network the sub-network belongs to")
    supernet = supernet if supernet is not None else create_supernet(name)
    encoded = supernet.parse_record(subnet)  # a sub-network of another super-network fails here
    d = config.dynas
    supernet.load(pretrained=d.pretrained, ckpt_path=d.supernet_ckpt_path, device="cpu")
    ctx = MeasureContext((), d, "cpu", config.nas.search.seed)
    return supernet.standalone(encoded, ctx).cpu().eval()


def save_subnet(
    module: nn.Module,
    supernet: Any,
    subnet: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    metrics: Mapping[str, float] | None = None,
    reason: str = "",
) -> dict[str, Path]:
    """Write the three files of the module docstring into ``out_dir``; returns ``{kind: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = supernet.subnet_record(supernet.parse_record(subnet))
    module = module.cpu().eval()
    payload = {"format": FORMAT, "supernet": supernet.name, "subnet": record, "state_dict": module.state_dict()}
    files = {"weights": out / WEIGHTS_FILE, "torchscript": out / TORCHSCRIPT_FILE, "description": out / JSON_FILE}
    tmp = files["weights"].with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, files["weights"])
    with torch.no_grad(), warnings.catch_warnings():
        # PyTorch marks TorchScript as deprecated in favour of torch.export; its files still load in every torch 2.x.
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, supernet.example_inputs())
        traced.save(str(files["torchscript"]))
    description = {
        "format": FORMAT,
        "supernet": supernet.name,
        "subnet": record,
        "input": supernet.input_contract(),
        "example_inputs": [{"shape": list(t.shape), "dtype": str(t.dtype)} for t in supernet.example_inputs()],
        "metrics": dict(metrics or {}),
        "chosen_because": reason,
        "files": {kind: path.name for kind, path in files.items()},
    }
    # One line per entry: a sub-network's gene lists stay readable on one line each.
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in description.items()]
    write_atomic(files["description"], "{\n" + ",\n".join(lines) + "\n}\n")
    return files


def load_subnet(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Rebuild the module saved by `save_subnet` (its ``subnet.pt``): the super-network's sub-network with the saved
    weights. Reads the file with ``weights_only=True``."""
    from neural_nas.supernets import create_supernet

    payload = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(str(path), type(payload).__name__, f"a sub-network file written by save_subnet ({FORMAT})")
    supernet = create_supernet(payload["supernet"])
    supernet.load(pretrained=False, ckpt_path=None, device=device)  # only the shapes: the weights come from the file
    module = supernet.active_subnet(supernet.parse_record(payload["subnet"]))
    module.load_state_dict(payload["state_dict"])
    logger.info("loaded sub-network of %s from %s", supernet.name, path)
    return module.to(device).eval()


def export_pick(
    results_csv: str | os.PathLike,
    config: NASConfig | None,
    out: str | os.PathLike,
    *,
    by: str = "knee",
    where: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
) -> tuple[Any, dict[str, Path]]:
    """Pick a measured row of ``results_csv`` (the ``where`` constraints, then ``by``: ``knee``, ``max:METRIC``,
    ``min:METRIC`` or ``#N``) and save that sub-network of ``config``'s super-network into ``out`` (`save_subnet`).
    ``config`` None: the configuration the search recorded beside the CSV (`config_record.record_of`). ``metrics``:
    the objectives (default: those the search recorded). Returns the `Choice` and the files written. A file of
    another super-network is refused before anything is built."""
    from neural_nas.config import load_yaml
    from neural_nas.plotting import load_measured
    from neural_nas.results.config_record import record_of
    from neural_nas.results.selection import pick
    from neural_nas.supernets import create_supernet

    if config is None:
        record = record_of(Path(results_csv))
        if record is None:
            raise ConfigError(
                "config",
                None,
                "the search's configuration (super-network, weights, data set)",
                f"no record of the search is beside {results_csv} (config.yaml): give one (--config)",
            )
        config = load_yaml(record)
    if config.dynas.supernet is None:
        raise ConfigError(
            "nas.dynas.supernet", None, "a registered super-network name", "a Dynamic NAS config is needed to export"
        )
    supernet = create_supernet(config.dynas.supernet)
    results = load_measured(results_csv, list(metrics) if metrics else None, supernet)  # as front and plot check
    choice = pick(results, where, by)
    module = standalone_subnet(config, choice.arch, supernet=supernet)
    files = save_subnet(module, supernet, choice.arch, out, metrics=choice.metrics, reason=choice.reason)
    return choice, files


def export_hint(results: Any, results_csv: str | os.PathLike, record: str | os.PathLike) -> str:
    """The command that exports a row of a finished search, with a ``--where`` example sized to it (the median of
    its MACs, or of its last metric: about half of the rows) and ``--pick`` examples of its own metrics."""
    import numpy as np

    names = results.metric_names
    picks = ["knee", *(f"{'max' if h else 'min'}:{n}" for n, h in zip(names, results.higher_is_better))]
    where = ""
    if results.points:
        name = "macs" if "macs" in names else names[-1]
        median = float(np.median([point[name] for point in results.points]))
        where = f"; --where '{name}{'>=' if results.higher_is_better[names.index(name)] else '<='}{median:.2g}'"
    return (
        f"export a row: neural-nas export {results_csv} --config {record} --pick '#N' --out DIR   "
        f"(or --pick {', '.join(picks)}{where})"
    )
