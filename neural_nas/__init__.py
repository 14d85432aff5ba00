"""neural_nas: neural architecture search with the Intel Neural Compressor NAS API, resumable, offline and fast.

Messages go to the ``neural_nas`` logger, with no handler of its own: until the application configures logging, its
warnings reach stderr through Python's last-resort handler (a NullHandler would hide the warnings the docs promise);
``logging.basicConfig(level=logging.INFO)`` shows the progress messages too.
"""

from neural_nas.approaches import BasicNAS, DyNAS
from neural_nas.config import NASConfig
from neural_nas.nas import NAS, NASBase, nas_registry

__version__ = "0.1.0"
__all__ = ["NAS", "BasicNAS", "DyNAS", "NASBase", "NASConfig", "nas_registry"]
