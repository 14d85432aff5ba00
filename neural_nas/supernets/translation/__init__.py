"""Machine translation super-networks: the Transformer-LT of the reference (``transformer_lt_wmt_en_de``).

Importing this package registers it without importing torch (the model, data and BLEU modules load on first use).
"""

from neural_nas.supernets.translation.space import WMT_EN_DE_SPACE, SubnetShape, TransformerSpace
from neural_nas.supernets.translation.supernet import TransformerLTSuperNetwork

__all__ = ["WMT_EN_DE_SPACE", "SubnetShape", "TransformerLTSuperNetwork", "TransformerSpace"]
