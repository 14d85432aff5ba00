"""The NAS factory, the base class, the approach registry and the record of a search (`Study`)."""

from neural_nas.nas.base import NASBase, nas_registry
from neural_nas.nas.factory import NAS
from neural_nas.pareto import pareto_front
from neural_nas.results.study import Study, Trial, arch_key

__all__ = ["NAS", "NASBase", "Study", "Trial", "arch_key", "nas_registry", "pareto_front"]
