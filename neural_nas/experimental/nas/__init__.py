"""Drop-in import path of the reference: ``from neural_nas.experimental.nas import NAS, BasicNAS, ...``."""

from neural_nas import NAS, BasicNAS, DyNAS, NASBase, nas_registry

__all__ = ["NAS", "BasicNAS", "DyNAS", "NASBase", "nas_registry"]
