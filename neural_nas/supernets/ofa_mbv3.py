"""OFA MobileNetV3 super-networks, and the table method for MACs/params shared with ProxylessNAS.

Genes: ``ks`` x20 in [3, 5, 7] and ``e`` x20 in [3, 4, 6] (one per elastic block, five stages of four), then ``d`` x5
in [2, 3, 4] (stage ``s`` runs its first ``d[s]`` blocks). In these nets every elastic block has a fixed input width and
a fixed input resolution, so its MACs and params depend only on its position and its (ks, e): a table of 20x3x3 entries
per metric, plus a constant for the stem and head, gives every sub-network's totals by one numpy gather-sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets._ofa import OFA_URL, OFASuperNetwork
from neural_nas.supernets.encoding import Encoding

if TYPE_CHECKING:
    from torch import nn

MBCONV_ENCODING = Encoding(
    {
        "ks": {"count": 20, "vars": [3, 5, 7]},
        "e": {"count": 20, "vars": [3, 4, 6]},
        "d": {"count": 5, "vars": [2, 3, 4]},
    }
)


@dataclass(frozen=True)
class BlockTables:
    """``macs[block, ks index, e index]`` (and ``params``) of each elastic block, plus the rest of the network."""

    const_macs: int
    const_params: int
    macs: np.ndarray
    params: np.ndarray


class OFAMBConvSuperNetwork(OFASuperNetwork):
    """OFA nets of elastic MBConv blocks with (ks, e) per block and a depth per stage (MobileNetV3, ProxylessNAS)."""

    encoding = MBCONV_ENCODING

    @property
    def blocks_per_stage(self) -> int:
        return max(self.encoding.params["d"]["vars"])

    def features(self, vectors: np.ndarray) -> np.ndarray:
        # Imported here: the predictors package loads scikit-learn, which registering the super-networks does not need.
        from neural_nas.predictors.features import active_block_features

        # Inactive blocks zeroed, plus the active genes' scaled values: the predictors rank sub-networks better than
        # on plain one-hot (benchmarks/RESULTS.md, 'Metric predictors on the shared OFA MobileNetV3 data').
        return active_block_features(
            self.encoding, vectors, depth_param="d", block_params=("ks", "e"), blocks_per_stage=self.blocks_per_stage
        )

    def canonical(self, vectors: np.ndarray) -> np.ndarray:
        """The ``ks``/``e`` genes of blocks beyond their stage's depth (never run) set to their first choice."""
        from neural_nas.predictors.features import active_blocks, gene_slice

        out = np.array(vectors, dtype=np.int64, ndmin=2)  # a copy
        inactive = ~active_blocks(self.encoding, out, "d", ("ks", "e"), self.blocks_per_stage)
        for name in ("ks", "e"):
            out[:, gene_slice(self.encoding, name)][inactive] = 0
        return out

    def n_networks(self) -> int:
        """Per stage, each depth ``d`` gives (kernel x expansion choices) ** d distinct block settings."""
        per_block = len(self.encoding.params["ks"]["vars"]) * len(self.encoding.params["e"]["vars"])
        per_stage = sum(per_block**d for d in self.encoding.params["d"]["vars"])
        return per_stage ** self.encoding.params["d"]["count"]

    def subnet_record(self, subnet: dict) -> dict:
        plain = super().subnet_record(subnet)
        # The DyNAS-T column: {'wid': None, 'ks': [...], 'e': [...], 'd': [...], 'r': [224]}.
        return {"wid": None, "ks": plain["ks"], "e": plain["e"], "d": plain["d"], "r": [self.image_size]}

    def _subnet_kwargs(self, subnet: dict) -> dict[str, list]:
        return {"ks": list(subnet["ks"]), "e": list(subnet["e"]), "d": list(subnet["d"])}

    def _build_tables(self) -> BlockTables:
        from ofa.utils.layers import ResidualBlock

        from neural_nas.supernets._ofa_tables import VariantCounter, input_shapes, meta_supernet

        net = meta_supernet(self)
        n_blocks = self.encoding.params["ks"]["count"]
        ks_vars, e_vars = self.encoding.params["ks"]["vars"], self.encoding.params["e"]["vars"]
        elastic = list(net.blocks[1 : 1 + n_blocks])
        # Deepest configuration, so every elastic block runs and reports its input shape.
        net.set_active_subnet(**self._subnet_kwargs(self.encoding.vector_to_dict(self.encoding.cardinalities - 1)))
        shapes = input_shapes(net, elastic, self.image_size)

        macs = np.zeros((n_blocks, len(ks_vars), len(e_vars)), dtype=np.int64)
        params = np.zeros_like(macs)
        for i, block in enumerate(elastic):
            count, cin = VariantCounter(shapes[i][2:]), shapes[i][1]
            for a, ks in enumerate(ks_vars):
                for b, e in enumerate(e_vars):
                    block.conv.active_kernel_size, block.conv.active_expand_ratio = ks, e
                    # OFA's own single-block extraction: the shapes are exactly those of the extracted sub-network.
                    sub = ResidualBlock(block.conv.get_active_subnet(cin, preserve_weight=False), block.shortcut)
                    macs[i, a, b], params[i, a, b] = count(sub, cin)

        # The stem and head: one whole sub-network counted, minus its elastic blocks.
        ref = np.zeros((1, self.encoding.n_genes), dtype=np.int64)
        net.set_active_subnet(**self._subnet_kwargs(self.encoding.vector_to_dict(ref[0])))
        full_macs, full_params = VariantCounter((self.image_size, self.image_size))(
            net.get_active_subnet(preserve_weight=False), 3
        )
        partial = BlockTables(0, 0, macs, params)
        ref_blocks = self._exact_from_tables(partial, ref)
        return BlockTables(
            full_macs - int(ref_blocks["macs"][0]), full_params - int(ref_blocks["params"][0]), macs, params
        )

    def _exact_from_tables(self, tables: BlockTables, vectors: np.ndarray) -> dict[str, np.ndarray]:
        ks, e = self._genes(vectors, "ks"), self._genes(vectors, "e")
        depth = self._values(vectors, "d")
        per_stage = self.blocks_per_stage
        position = np.arange(ks.shape[1])
        active = (position % per_stage)[None, :] < np.repeat(depth, per_stage, axis=1)
        macs = (tables.macs[position[None, :], ks, e] * active).sum(axis=1) + tables.const_macs
        params = (tables.params[position[None, :], ks, e] * active).sum(axis=1) + tables.const_params
        return {"macs": macs, "params": params}


class _OFAMobileNetV3(OFAMBConvSuperNetwork):
    width_mult: ClassVar[float]

    def build(self) -> nn.Module:
        from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3

        return OFAMobileNetV3(
            n_classes=1000,
            bn_param=(0.1, 1e-5),
            dropout_rate=0,
            width_mult=self.width_mult,
            ks_list=[3, 5, 7],
            expand_ratio_list=[3, 4, 6],
            depth_list=[2, 3, 4],
        )


@supernet_registry("ofa_mbv3_d234_e346_k357_w1.0")
class OFAMobileNetV3W10(_OFAMobileNetV3):
    name = "ofa_mbv3_d234_e346_k357_w1.0"
    width_mult = 1.0
    weights_file = name
    weights_url: Any = OFA_URL + name


@supernet_registry("ofa_mbv3_d234_e346_k357_w1.2")
class OFAMobileNetV3W12(_OFAMobileNetV3):
    name = "ofa_mbv3_d234_e346_k357_w1.2"
    width_mult = 1.2
    weights_file = name
    weights_url: Any = OFA_URL + name
