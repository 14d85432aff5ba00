"""Reading configurations: YAML files (opened read-only, `yaml.safe_load` only) or NASConfig objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from neural_nas.config.nas_config import NASConfig
from neural_nas.errors import ConfigError


def load_yaml(path: str | os.PathLike) -> NASConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NAS configuration file not found: {str(path)!r}")
    with open(path, encoding="utf-8") as f:  # read-only: the user's file is never rewritten
        text = f.read()
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(str(path), "<unparsable YAML>", "a valid YAML document", str(err).replace("\n", " ")) from err
    return NASConfig.from_dict(document, source=str(path))


def load_config(conf_fname_or_obj: Any) -> NASConfig:
    """A validated private copy of the configuration: callers' NASConfig objects are never mutated.

    Also takes the reference's wrapper of several tools' configs (``Config(nas=NASConfig(...))``): its ``nas``."""
    from neural_nas.conf.pythonic_config import Config

    if isinstance(conf_fname_or_obj, Config):
        if not isinstance(conf_fname_or_obj.nas, NASConfig):
            raise ConfigError("Config.nas", conf_fname_or_obj.nas, "a NASConfig (Config(nas=NASConfig(...)))")
        conf_fname_or_obj = conf_fname_or_obj.nas
    if isinstance(conf_fname_or_obj, NASConfig):
        return conf_fname_or_obj.copy()
    if isinstance(conf_fname_or_obj, (str, os.PathLike)):
        return load_yaml(conf_fname_or_obj)
    raise TypeError(
        "NAS expects the path of a YAML file (str or os.PathLike), a NASConfig or a Config(nas=NASConfig(...)); "
        f"got {type(conf_fname_or_obj).__name__}"
    )
