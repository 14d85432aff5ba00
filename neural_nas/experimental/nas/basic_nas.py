"""Drop-in for the reference's module ``neural_compressor.experimental.nas.basic_nas``."""

from neural_nas.approaches.basic import BasicNAS

__all__ = ["BasicNAS"]
