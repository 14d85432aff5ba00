"""The NAS factory, the base class and the approach registry."""

from neural_nas.nas.base import NASBase, nas_registry
from neural_nas.nas.factory import NAS
from neural_nas.nas.pareto import pareto_front

__all__ = ["NAS", "NASBase", "nas_registry", "pareto_front"]
