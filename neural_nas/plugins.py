"""Users' own registrations (super-networks, approaches, metrics, searchers) loaded from a module or a ``.py`` file,
as ``neural-nas --import`` does."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from neural_nas.errors import ConfigError


def import_plugin(target: str) -> None:
    """Import a module name or a ``.py`` file, for the registrations it makes."""
    if target.endswith(".py") or Path(target).is_file():
        path = Path(target)
        if not path.is_file():
            raise ConfigError("--import", target, "an importable module name or an existing .py file", "file not found")
        spec = importlib.util.spec_from_file_location(f"neural_nas_plugin_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        try:
            importlib.import_module(target)
        except ModuleNotFoundError as err:
            raise ConfigError(
                "--import", target, "an importable module name or an existing .py file", str(err)
            ) from None
