"""The OFA ResNet-50 super-network.

Genes (the arguments of OFA's ``set_active_subnet(d=, e=, w=)``): ``d`` x5 in [0, 1, 2] (``d[0]`` keeps the stem's
residual block only at 2; ``d[1:]`` drop the last ``2 - d`` blocks of each of the four stages), ``e`` x18 in
[0.2, 0.25, 0.35] (bottleneck expansion of each block) and ``w`` x6 in [0, 1, 2] (indices into the width multipliers
[0.65, 0.8, 1.0]: ``w[0]`` the first two stem convolutions, ``w[1]`` the third, ``w[2:]`` the four stages).

Widths chain from block to block, so a block's cost depends on its own (e, output width) and on its input width: the
output width of the previous stage (or of the stem) for the first block of a stage, its own otherwise. Tables indexed
that way, plus small ones for the stem and the classifier, give exact totals by a numpy gather-sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets._ofa import OFASuperNetwork
from neural_nas.supernets.encoding import Encoding

if TYPE_CHECKING:
    from torch import nn

_WEIGHTS = "ofa_resnet50_d0-1-2_e0.2-0.25-0.35_w0.65-0.8-1.0"


@dataclass(frozen=True)
class ResNetTables:
    """(macs, params) in the last axis; the other axes are gene choice indices."""

    stem0: np.ndarray  # [w0]: first stem convolution
    stem1: np.ndarray  # [w0]: the stem's residual block (runs when d[0] is the largest depth)
    stem2: np.ndarray  # [w0, w1]: third stem convolution
    blocks: np.ndarray  # [block, input width, e, output width]
    head: np.ndarray  # [w of the last stage]: classifier
    stage: np.ndarray  # stage of each block
    position: np.ndarray  # position of each block within its stage
    stage_len: np.ndarray  # blocks in each block's stage at the largest depth
    in_gene: np.ndarray  # column of ``w`` giving each block's input width
    max_depth: int

    # The depth rule of OFA's ResNets, written once: every consumer of ``d`` (MACs/params, the canonical form, the
    # quantized layers) must agree on which blocks run.
    def blocks_kept(self, stage_len: int | np.ndarray, depth: int | np.ndarray) -> int | np.ndarray:
        """How many blocks a stage of ``stage_len`` blocks runs at depth ``depth``: it drops its last
        ``max_depth - depth``."""
        return stage_len - self.max_depth + depth

    def active_blocks(self, d: np.ndarray) -> np.ndarray:
        """Boolean (rows, blocks) from the ``d`` values (rows, 5): whether each block runs (``d[1 + s]`` is the depth
        of stage ``s``)."""
        return self.position[None, :] < self.blocks_kept(self.stage_len[None, :], d[:, 1 + self.stage])

    def stem_block_active(self, d: np.ndarray) -> np.ndarray:
        """Boolean (rows,) from the ``d`` values (rows, 5): whether the stem's residual block runs (only at the largest
        ``d[0]``)."""
        return d[:, 0] == self.max_depth


@supernet_registry("ofa_resnet50")
class OFAResNet50(OFASuperNetwork):
    name = "ofa_resnet50"
    inner_evals = 5000  # the reference's budget for ResNet-50
    encoding = Encoding(
        {
            "d": {"count": 5, "vars": [0, 1, 2]},
            "e": {"count": 18, "vars": [0.2, 0.25, 0.35]},
            "w": {"count": 6, "vars": [0, 1, 2]},
        }
    )
    weights_file = _WEIGHTS
    # OFA publishes these weights on Google Drive only; an HTML answer is detected and reported as a failed download.
    weights_url: Any = "https://drive.google.com/uc?export=download&id=1xy6VIPEHXqbbqNu3xEZUxhp5FbTVs5cQ"

    def build(self) -> nn.Module:
        from ofa.imagenet_classification.elastic_nn.networks import OFAResNets

        return OFAResNets(
            n_classes=1000,
            bn_param=(0.1, 1e-5),
            dropout_rate=0,
            depth_list=[0, 1, 2],
            expand_ratio_list=[0.2, 0.25, 0.35],
            width_mult_list=[0.65, 0.8, 1.0],
        )

    def subnet_record(self, subnet: dict) -> dict:
        return {**super().subnet_record(subnet), "r": [self.image_size]}

    def canonical(self, vectors: np.ndarray) -> np.ndarray:
        """``e`` of the blocks a stage's depth drops set to its first choice, and ``d[0]`` to 0 unless it keeps the
        stem's residual block (0 and 1 give the same network)."""
        t = self.tables()
        out = np.array(vectors, dtype=np.int64, ndmin=2)  # a copy
        d = self._values(out, "d")
        self._genes(out, "e")[~t.active_blocks(d)] = 0
        out[:, 0] = np.where(t.stem_block_active(d), out[:, 0], 0)  # d is the first gene
        return out

    def n_networks(self) -> int:
        t = self.tables()
        n_e, n_w = len(self.encoding.params["e"]["vars"]), len(self.encoding.params["w"]["vars"])
        depths = self.encoding.params["d"]["vars"]
        total = 2 * n_w ** self.encoding.params["w"]["count"]  # the stem's block: kept (d[0] = 2) or not
        for stage in range(self.encoding.params["d"]["count"] - 1):  # d[1:]: one depth per stage
            length = int(t.stage_len[t.stage == stage][0])
            total *= sum(n_e ** t.blocks_kept(length, d) for d in depths)
        return total

    def _subnet_kwargs(self, subnet: dict) -> dict[str, list]:
        return {"d": list(subnet["d"]), "e": list(subnet["e"]), "w": list(subnet["w"])}

    def _build_tables(self) -> ResNetTables:
        from ofa.utils.layers import IdentityLayer, ResidualBlock

        from neural_nas.supernets._ofa_tables import VariantCounter, input_shapes, meta_supernet

        net = meta_supernet(self)
        stem0, stem1, stem2 = net.input_stem
        e_vars = self.encoding.params["e"]["vars"]
        n_w = len(self.encoding.params["w"]["vars"])
        net.set_max_net()  # every layer runs, so every layer reports its input shape
        shapes = input_shapes(net, [*net.input_stem, *net.blocks, net.classifier], self.image_size)
        block_shapes = shapes[3:-1]

        count0, count1, count2 = (VariantCounter(shape[2:]) for shape in shapes[:3])
        t0, t1 = np.zeros((n_w, 2), np.int64), np.zeros((n_w, 2), np.int64)
        t2 = np.zeros((n_w, n_w, 2), np.int64)
        for w0, mid in enumerate(stem0.out_channel_list):
            stem0.active_out_channel = stem1.conv.active_out_channel = mid
            t0[w0] = count0(stem0.get_active_subnet(3, preserve_weight=False), 3)
            block = ResidualBlock(stem1.conv.get_active_subnet(mid, preserve_weight=False), IdentityLayer(mid, mid))
            t1[w0] = count1(block, mid)
            for w1, out in enumerate(stem2.out_channel_list):
                stem2.active_out_channel = out
                t2[w0, w1] = count2(stem2.get_active_subnet(mid, preserve_weight=False), mid)

        groups = net.grouped_block_index
        stage = np.array([s for s, idx in enumerate(groups) for _ in idx])
        position = np.array([p for idx in groups for p in range(len(idx))])
        # The first block of stage s reads the width chosen by w[1 + s] (stem for s = 0), the others w[2 + s].
        in_gene = np.where(position == 0, 1 + stage, 2 + stage)
        blocks = np.zeros((len(net.blocks), n_w, len(e_vars), n_w, 2), np.int64)
        for b, block in enumerate(net.blocks):
            count = VariantCounter(block_shapes[b][2:])
            # Inside a stage the input width is the stage's own: only the diagonal is ever looked up.
            pairs = [(i, o) for i in range(n_w) for o in range(n_w) if position[b] == 0 or i == o]
            for i, o in pairs:
                for k, e in enumerate(e_vars):
                    block.active_expand_ratio, block.active_out_channel = e, block.out_channel_list[o]
                    cin = block.in_channel_list[i]
                    blocks[b, i, k, o] = count(block.get_active_subnet(cin, preserve_weight=False), cin)
        head = np.zeros((n_w, 2), np.int64)
        count = VariantCounter(())
        for w, cin in enumerate(net.classifier.in_features_list):
            head[w] = count(net.classifier.get_active_subnet(cin, preserve_weight=False), cin)
        return ResNetTables(
            t0,
            t1,
            t2,
            blocks,
            head,
            stage,
            position,
            np.array([len(groups[s]) for s in stage]),
            in_gene,
            max(self.encoding.params["d"]["vars"]),
        )

    def _exact_from_tables(self, t: ResNetTables, vectors: np.ndarray) -> dict[str, np.ndarray]:
        d, e, w = self._values(vectors, "d"), self._genes(vectors, "e"), self._genes(vectors, "w")
        total = t.stem0[w[:, 0]] + t.stem2[w[:, 0], w[:, 1]] + t.head[w[:, -1]]
        total += t.stem1[w[:, 0]] * t.stem_block_active(d)[:, None]
        active = t.active_blocks(d)
        per_block = t.blocks[np.arange(len(t.stage))[None, :], w[:, t.in_gene], e, w[:, 2 + t.stage]]
        total += (per_block * active[:, :, None]).sum(axis=1)
        return {"macs": total[:, 0], "params": total[:, 1]}
