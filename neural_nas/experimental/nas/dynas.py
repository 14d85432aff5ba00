"""Drop-in for the reference's module ``neural_compressor.experimental.nas.dynas``."""

from neural_nas.approaches.dynas import DyNAS

__all__ = ["DyNAS"]
