"""The NAS factory: configuration in, an instance of the configured approach out."""

from __future__ import annotations

import logging
from typing import Any

from neural_nas.config import NASConfig, load_config
from neural_nas.nas.base import NASBase, nas_registry

logger = logging.getLogger("neural_nas")


class NAS:
    """``NAS(yaml_path_or_NASConfig, *args, **kwargs)`` returns an instance of the approach named by ``nas.approach``.

    Extra arguments go to the approach's constructor (``NAS(yaml, search_space, model_builder)`` for Basic NAS).
    Nothing is stored on this class: each call builds an independent instance from its own copy of the config.
    """

    def __new__(cls, conf_fname_or_obj: str | NASConfig, *args: Any, **kwargs: Any) -> NASBase:
        config = load_config(conf_fname_or_obj)
        return approach_class(config)(config, *args, **kwargs)


def approach_class(config: NASConfig) -> type[NASBase]:
    """The class registered for ``nas.approach`` (unset: Basic NAS, with a warning, as the reference). The built-in
    approaches are registered by importing ``neural_nas``, which every import of this module does first."""
    approach = config.nas.approach
    if approach is None or not str(approach).strip():
        logger.warning("nas.approach is unset: using Basic NAS ('basic')")
        approach = "basic"
    return nas_registry.get(approach)
