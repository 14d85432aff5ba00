"""From a chosen sub-network to a model in hand, and to files that outlive the search.

`standalone_subnet` extracts a sub-network of a Dynamic NAS configuration's super-network with its weights, made usable
on their own (BatchNorm recalibrated where the super-network needs it: `SuperNetwork.standalone`); `deployed_subnet`
gives the model the search measured of it (the same module, or the int8 model of a quantization policy). `save_subnet`
writes into a folder:

- ``subnet.pt``: weights only, ``{"format", "supernet", "supernet_settings", "subnet", "state_dict"}``: plain
  tensors, strings and numbers, so ``torch.load(path, weights_only=True)`` reads it; `load_subnet` rebuilds the module
  with this library;
- each graph of the deployed model (`SuperNetwork.export_graphs`: ``subnet``, or ``encoder`` and ``decoder_step``) in
  each asked format (`neural_nas.export.formats`: ``subnet.pt2``, ``subnet.onnx``, ``subnet.torchscript.pt``), each
  run back and compared with the module (`neural_nas.export.parity`);
- ``subnet.json``, last, once every file passed its check: the model card (`neural_nas.export.card`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from neural_nas.config import NASConfig
from neural_nas.errors import ConfigError
from neural_nas.export.card import card_text, model_card
from neural_nas.export.formats import DEFAULT_FORMATS, resolve
from neural_nas.export.parity import check_parity
from neural_nas.results import write_atomic

logger = logging.getLogger("neural_nas")

FORMAT = "neural_nas.subnet/1"
WEIGHTS_FILE, JSON_FILE = "subnet.pt", "subnet.json"


def _context(config: NASConfig) -> Any:
    from neural_nas.measurements.context import MeasureContext

    return MeasureContext((), config.dynas, "cpu", config.nas.search.seed)


def standalone_subnet(config: NASConfig, subnet: Mapping[str, Any], *, supernet: Any = None) -> nn.Module:
    """The sub-network ``subnet`` (a dict, or its ``Sub-network`` literal) of ``config``'s super-network, on the CPU,
    with the configured weights (``nas.dynas.pretrained`` / ``supernet_ckpt_path``) and usable on its own."""
    from neural_nas.supernets import create_supernet

    name = config.dynas.supernet
    if name is None:
        raise ConfigError("nas.dynas.supernet", None, "the super-network the sub-network belongs to")
    supernet = supernet if supernet is not None else create_supernet(name, config.dynas)
    encoded = supernet.parse_record(subnet)  # a sub-network of another super-network fails here
    d = config.dynas
    supernet.load(pretrained=d.pretrained, ckpt_path=d.supernet_ckpt_path, device="cpu")
    return supernet.standalone(encoded, _context(config)).cpu().eval()


def deployed_subnet(config: NASConfig, module: nn.Module, subnet: Mapping[str, Any], *, supernet: Any) -> nn.Module:
    """The model the exported files of ``module`` (from `standalone_subnet`) compute: the one the search measured
    (`SuperNetwork.deployed`): ``module`` itself, or the int8 model of a quantization super-network's policy."""
    encoded = supernet.parse_record(subnet)
    return supernet.deployed(module, encoded, _context(config)).cpu().eval()


def save_subnet(
    module: nn.Module,
    supernet: Any,
    subnet: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    metrics: Mapping[str, float] | None = None,
    reason: str = "",
    formats: str | Sequence[str] = DEFAULT_FORMATS,
    deployed: nn.Module | None = None,
) -> dict[str, Path]:
    """Write the files of the module docstring into ``out_dir``; returns ``{kind: path}``: ``weights``,
    ``description`` (the card) and, per format, ``pt2`` (one graph) or ``pt2:encoder`` (one per graph).
    ``subnet.pt`` holds ``module``'s weights; the other files compute ``deployed`` (`deployed_subnet`) when the search
    measured another model than ``module`` (the int8 model of a quantization super-network), else ``module``."""
    chosen = resolve(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_FILE).unlink(missing_ok=True)  # an earlier export's card must not describe this export's files
    encoded = supernet.parse_record(subnet)
    record = supernet.subnet_record(encoded)
    module = module.cpu().eval()
    files = {"weights": out / WEIGHTS_FILE}
    payload = {
        "format": FORMAT,
        "supernet": supernet.name,
        "supernet_settings": supernet.settings_record(),
        "subnet": record,
        "state_dict": module.state_dict(),
    }
    tmp = files["weights"].with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, files["weights"])

    graphs = supernet.export_graphs(module if deployed is None else deployed.cpu().eval())
    parity: dict[str, dict[str, Any]] = {}
    for fmt in chosen:
        parity[fmt.name] = {}
        for graph in graphs:
            path = out / f"{graph.name}{fmt.suffix}"
            fmt.write(graph, path)
            parity[fmt.name][graph.name] = check_parity(graph, fmt, path)
            files[fmt.name if len(graphs) == 1 else f"{fmt.name}:{graph.name}"] = path
            logger.info("%s: max difference %.3g from the module", path, parity[fmt.name][graph.name].max_abs_diff)
    files["description"] = out / JSON_FILE
    exact = {}
    if supernet.exact_metric_names:
        vector = supernet.encoding.dict_to_vector(encoded)
        exact = {k: float(v[0]) for k, v in supernet.exact_metrics(vector[None, :]).items()}
    card = model_card(
        supernet, record, graphs, metrics=metrics or {}, exact=exact, reason=reason, parity=parity, files=files
    )
    write_atomic(files["description"], card_text(card))
    return files


def load_subnet(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Rebuild the module saved by `save_subnet` (its ``subnet.pt``): the super-network's sub-network with the saved
    weights. Reads the file with ``weights_only=True``."""
    from neural_nas.supernets import create_supernet

    payload = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(str(path), type(payload).__name__, f"a sub-network file written by save_subnet ({FORMAT})")
    supernet = create_supernet(payload["supernet"], SimpleNamespace(**payload.get("supernet_settings", {})))
    supernet.load(pretrained=False, ckpt_path=None, device=device)  # only the shapes: the weights come from the file
    module = supernet.active_subnet(supernet.parse_record(payload["subnet"]))
    module.load_state_dict(payload["state_dict"])
    logger.info("loaded sub-network of %s from %s", supernet.name, path)
    return module.to(device).eval()
