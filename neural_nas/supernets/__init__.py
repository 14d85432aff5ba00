"""Super-networks: the protocol, the registry and the built-in OFA families.

Importing this package registers the built-ins without importing torch or ofa (they load on first use).
``create_supernet(name)`` gives a fresh instance; ``supernet_registry.names()`` lists what is registered.
"""

from neural_nas.supernets import (  # noqa: F401  (built-ins)
    lm,
    ofa_digits,
    ofa_mbv3,
    ofa_proxyless,
    ofa_resnet50,
    ofa_resnet50_quant,
    text,
    translation,
)
from neural_nas.supernets._base import CANONICAL_METRICS, SuperNetwork, create_supernet, supernet_registry
from neural_nas.supernets.encoding import Encoding

__all__ = ["CANONICAL_METRICS", "Encoding", "SuperNetwork", "create_supernet", "supernet_registry"]
