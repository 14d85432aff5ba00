"""Reading configurations: the path of a YAML file, a NASConfig, or the reference's ``Config(nas=NASConfig(...))``."""

from __future__ import annotations

import os
from typing import Any

from neural_nas.config.nas_config import NASConfig
from neural_nas.config.pythonic import Config
from neural_nas.errors import ConfigError


def load_yaml(path: str | os.PathLike) -> NASConfig:
    """The configuration of a YAML file (`NASConfig.from_yaml`)."""
    return NASConfig.from_yaml(path)


def load_config(conf_fname_or_obj: Any) -> NASConfig:
    """A validated private copy of the configuration: callers' NASConfig objects are never mutated.

    Also takes the reference's wrapper of several tools' configs (``Config(nas=NASConfig(...))``): its ``nas``."""
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
