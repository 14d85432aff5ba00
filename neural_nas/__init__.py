"""neural_nas: neural architecture search with the Intel Neural Compressor NAS API, resumable, offline and fast."""

import logging

from neural_nas.approaches import BasicNAS, DyNAS
from neural_nas.config import NASConfig
from neural_nas.nas import NAS, NASBase, nas_registry

logging.getLogger("neural_nas").addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = ["NAS", "BasicNAS", "DyNAS", "NASBase", "NASConfig", "nas_registry"]
