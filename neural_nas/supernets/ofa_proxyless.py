"""The OFA ProxylessNAS super-network (width 1.3).

Same genes as MobileNetV3 (``ks``/``e`` x20, ``d`` x5). The network has a 21st elastic block (the single-block last
stage, 320 x 1.3 channels) that the genes do not cover; as in OFA's default it stays at its largest setting
(ks 7, e 6), and it is set explicitly at every extraction so no earlier state leaks in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets._ofa import OFA_URL
from neural_nas.supernets.ofa_mbv3 import OFAMBConvSuperNetwork

if TYPE_CHECKING:
    from torch import nn


@supernet_registry("ofa_proxyless_d234_e346_k357_w1.3")
class OFAProxylessW13(OFAMBConvSuperNetwork):
    name = "ofa_proxyless_d234_e346_k357_w1.3"
    weights_file = name
    weights_url: Any = OFA_URL + name

    def build(self) -> nn.Module:
        from ofa.imagenet_classification.elastic_nn.networks import OFAProxylessNASNets

        # bn_param left at OFA's default (momentum 0.1, eps 1e-3): the published weights were trained with it.
        return OFAProxylessNASNets(
            n_classes=1000,
            dropout_rate=0,
            width_mult=1.3,
            ks_list=[3, 5, 7],
            expand_ratio_list=[3, 4, 6],
            depth_list=[2, 3, 4],
        )

    def _subnet_kwargs(self, subnet: dict) -> dict[str, list]:
        kwargs = super()._subnet_kwargs(subnet)
        # The fixed last stage: one block at its largest kernel and expansion.
        return {"ks": kwargs["ks"] + [7], "e": kwargs["e"] + [6], "d": kwargs["d"] + [1]}
