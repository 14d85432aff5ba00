"""Drop-in for the reference's module ``neural_compressor.experimental.nas.nas``: the factory and the base class."""

from neural_nas.nas.base import NASBase
from neural_nas.nas.factory import NAS

__all__ = ["NAS", "NASBase"]
