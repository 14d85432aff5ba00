"""Sub-networks out of the library: extracted with their weights, saved in deployable formats, each file checked.

- `files`: `standalone_subnet`, `deployed_subnet`, `save_subnet`, `load_subnet` (what goes into the folder);
- `formats`: the registered formats (``pt2``, ``onnx``, ``torchscript``), written and run back;
- `parity`: every file against its module; `card`: ``subnet.json``;
- `pick`: a measured row of a search's CSV to a folder of files (`export_pick`, the CLI's ``export``).
"""

from neural_nas.export.files import (
    FORMAT,
    JSON_FILE,
    WEIGHTS_FILE,
    deployed_subnet,
    load_subnet,
    save_subnet,
    standalone_subnet,
)
from neural_nas.export.formats import DEFAULT_FORMATS, format_registry
from neural_nas.export.pick import export_hint, export_pick

__all__ = [
    "DEFAULT_FORMATS",
    "FORMAT",
    "JSON_FILE",
    "WEIGHTS_FILE",
    "deployed_subnet",
    "export_hint",
    "export_pick",
    "format_registry",
    "load_subnet",
    "save_subnet",
    "standalone_subnet",
]
