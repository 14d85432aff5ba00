"""The configuration a command runs: a YAML file (or the embedded default search) with ``KEY=VALUE`` overrides.

The default search is Dynamic NAS on the embedded super-network: no file, no download, no data set to fetch (its run
time: benchmarks/RESULTS.md).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from neural_nas.config.loader import load_yaml
from neural_nas.config.nas_config import NASConfig
from neural_nas.errors import ConfigError

DEFAULT_SUPERNET = "ofa_mbv3_digits"
DEFAULT_SEARCH: dict[str, Any] = {
    "nas": {
        "approach": "dynas",
        "search": {"search_algorithm": "nsga2", "seed": 42},
        "dynas": {"supernet": DEFAULT_SUPERNET, "metrics": ["acc", "macs"], "population": 50, "num_evals": 200},
    }
}


def parse_set(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (full dotted key, value): the key gets ``nas.`` prepended unless it has it; YAML value."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--set", item, "KEY=VALUE, e.g. --set dynas.population=20")
    path = key if key == "nas" or key.startswith("nas.") else f"nas.{key}"
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(path, text, "a valid YAML value", str(err).replace("\n", " ")) from None
    return path, value


def load_search_config(path: str | None, sets: Sequence[str] = ()) -> NASConfig:
    """The validated NASConfig of a YAML file (None: `DEFAULT_SEARCH`) with the ``--set`` overrides applied, each
    checked like any assignment (errors name the key)."""
    if path is None:
        config = NASConfig.from_dict(copy.deepcopy(DEFAULT_SEARCH), source="the default search")
    else:
        try:
            config = load_yaml(path)
        except FileNotFoundError:
            raise ConfigError("CONFIG", path, "an existing NAS YAML file", "file not found") from None
    for item in sets:
        config.set(*parse_set(item))
    return config
