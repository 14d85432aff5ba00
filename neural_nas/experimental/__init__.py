"""Drop-in import path of the reference: ``from neural_nas.experimental import NAS``."""

from neural_nas import NAS

__all__ = ["NAS"]
