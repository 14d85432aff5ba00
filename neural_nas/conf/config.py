"""Drop-in import path of the reference: ``from neural_nas.conf.config import NASConfig``."""

from neural_nas.config import NASConfig

__all__ = ["NASConfig"]
