"""Configuration: the schema table, the NASConfig object and the YAML loader."""

from neural_nas.config.loader import load_config, load_yaml
from neural_nas.config.nas_config import NASConfig

__all__ = ["NASConfig", "load_config", "load_yaml"]
