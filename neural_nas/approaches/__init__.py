"""Built-in approaches; importing this package registers them in `nas_registry`."""

from neural_nas.approaches.basic import BasicNAS
from neural_nas.approaches.dynas import DyNAS

__all__ = ["BasicNAS", "DyNAS"]
