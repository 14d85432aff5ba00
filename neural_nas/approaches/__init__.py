"""Built-in approaches; importing this package registers them in `nas_registry`."""

from neural_nas.approaches.basic import BasicNAS

__all__ = ["BasicNAS"]
