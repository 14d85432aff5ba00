"""Drop-in import path of the reference's Python configuration API (``neural_compressor.conf.pythonic_config``, 2.0):
``from neural_nas.conf.pythonic_config import Config, DyNASConfig, NASConfig`` (defined in `neural_nas.config`)."""

from neural_nas.config import NASConfig
from neural_nas.config.pythonic import Config, DyNASConfig

__all__ = ["Config", "DyNASConfig", "NASConfig"]
