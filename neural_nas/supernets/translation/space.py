"""The search space of a weight-sharing Transformer-LT (HAT's super transformer) and one sub-network's shape.

`TransformerSpace` holds the dimensions of a super-network: the gene choices and what is fixed (layers, the
attention's inner width, the vocabulary). `WMT_EN_DE_SPACE` is the reference's WMT'14 En-De super-network; a smaller
space (tests, demos) runs the very same code. `SubnetShape` is one sub-network, validated against its space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neural_nas.errors import ConfigError
from neural_nas.supernets.encoding import Encoding

# What ``decoder_arbitrary_ende_attn`` means: how many encoder layers below the last one a decoder layer also attends
# to (their outputs are concatenated along time with the last layer's): -1 none, 1 one, 2 two.
ENDE_EXTRA_LAYERS = {-1: 0, 1: 1, 2: 2}
# The genes with one column per decoder layer (those of layers beyond ``decoder_layer_num`` change nothing).
DECODER_LAYER_GENES = (
    "decoder_ffn_embed_dim",
    "decoder_self_attention_heads",
    "decoder_ende_attention_heads",
    "decoder_arbitrary_ende_attn",
)


@dataclass(frozen=True)
class TransformerSpace:
    """Choices per gene, in the reference's order (largest first), and the fixed dimensions.

    ``qkv_dim``: the width of queries, keys and values (fixed; heads only split it). ``vocab_size``: the joined
    dictionary's size (one embedding table is shared by the encoder, the decoder and the output projection).
    ``sentence_length``: the length of the sentence MACs and latency are measured on.
    """

    encoder_embed_dims: tuple[int, ...] = (640, 512)
    decoder_embed_dims: tuple[int, ...] = (640, 512)
    ffn_dims: tuple[int, ...] = (3072, 2048, 1024)
    decoder_layer_nums: tuple[int, ...] = (6, 5, 4, 3, 2, 1)
    heads: tuple[int, ...] = (8, 4)
    ende_choices: tuple[int, ...] = (-1, 1, 2)
    encoder_layers: int = 6
    decoder_layers: int = 6
    qkv_dim: int = 512
    vocab_size: int = 32768
    sentence_length: int = 30
    max_positions: int = 1024

    def __post_init__(self) -> None:
        if max(self.encoder_embed_dims) != max(self.decoder_embed_dims):
            raise ValueError("encoder and decoder share one embedding table: their largest widths must be equal")
        if any(self.qkv_dim % h for h in self.heads):
            raise ValueError(f"qkv_dim {self.qkv_dim} must be divisible by every head count {self.heads}")
        if max(self.decoder_layer_nums) > self.decoder_layers or set(self.ende_choices) - set(ENDE_EXTRA_LAYERS):
            raise ValueError("decoder_layer_nums must not exceed decoder_layers; ende_choices are among -1, 1, 2")
        if self.encoder_layers < 3:
            raise ValueError("the arbitrary encoder-decoder attention reads the last three encoder layers")

    @property
    def super_embed_dim(self) -> int:
        return max(self.encoder_embed_dims)

    @property
    def super_ffn_dim(self) -> int:
        return max(self.ffn_dims)

    def encoding(self) -> Encoding:
        """The genes, in the reference's order."""
        enc, dec = self.encoder_layers, self.decoder_layers
        return Encoding(
            {
                "encoder_embed_dim": {"count": 1, "vars": list(self.encoder_embed_dims)},
                "decoder_embed_dim": {"count": 1, "vars": list(self.decoder_embed_dims)},
                "encoder_ffn_embed_dim": {"count": enc, "vars": list(self.ffn_dims)},
                "decoder_ffn_embed_dim": {"count": dec, "vars": list(self.ffn_dims)},
                "decoder_layer_num": {"count": 1, "vars": list(self.decoder_layer_nums)},
                "encoder_self_attention_heads": {"count": enc, "vars": list(self.heads)},
                "decoder_self_attention_heads": {"count": dec, "vars": list(self.heads)},
                "decoder_ende_attention_heads": {"count": dec, "vars": list(self.heads)},
                "decoder_arbitrary_ende_attn": {"count": dec, "vars": list(self.ende_choices)},
            }
        )


WMT_EN_DE_SPACE = TransformerSpace()


@dataclass(frozen=True)
class SubnetShape:
    """One sub-network: the encoder's and the active decoder layers' dimensions (inactive decoder genes dropped)."""

    space: TransformerSpace
    encoder_embed_dim: int
    decoder_embed_dim: int
    encoder_ffn: tuple[int, ...]
    encoder_heads: tuple[int, ...]
    decoder_ffn: tuple[int, ...]
    decoder_self_heads: tuple[int, ...]
    decoder_ende_heads: tuple[int, ...]
    decoder_ende_extra: tuple[int, ...]  # extra encoder layers each decoder layer attends to (0, 1 or 2)

    @property
    def decoder_layers(self) -> int:
        return len(self.decoder_ffn)

    @classmethod
    def of(cls, space: TransformerSpace, subnet: Mapping[str, Sequence[Any]]) -> SubnetShape:
        """The shape of an encoded sub-network dict; a gene value outside its table is a ConfigError."""
        encoding = space.encoding()
        try:
            subnet = encoding.vector_to_dict(encoding.dict_to_vector(subnet))
        except (ValueError, TypeError) as err:
            raise ConfigError(
                "Sub-network", dict(subnet), f"a sub-network of the space {encoding.params}", str(err)
            ) from err
        layers = subnet["decoder_layer_num"][0]
        return cls(
            space=space,
            encoder_embed_dim=subnet["encoder_embed_dim"][0],
            decoder_embed_dim=subnet["decoder_embed_dim"][0],
            encoder_ffn=tuple(subnet["encoder_ffn_embed_dim"]),
            encoder_heads=tuple(subnet["encoder_self_attention_heads"]),
            decoder_ffn=tuple(subnet["decoder_ffn_embed_dim"][:layers]),
            decoder_self_heads=tuple(subnet["decoder_self_attention_heads"][:layers]),
            decoder_ende_heads=tuple(subnet["decoder_ende_attention_heads"][:layers]),
            decoder_ende_extra=tuple(ENDE_EXTRA_LAYERS[a] for a in subnet["decoder_arbitrary_ende_attn"][:layers]),
        )

    @classmethod
    def largest(cls, space: TransformerSpace) -> SubnetShape:
        """The whole super-network (every gene at its largest; no extra encoder-decoder attention)."""
        enc, dec = space.encoder_layers, space.decoder_layers
        return cls(
            space=space,
            encoder_embed_dim=space.super_embed_dim,
            decoder_embed_dim=space.super_embed_dim,
            encoder_ffn=(space.super_ffn_dim,) * enc,
            encoder_heads=(max(space.heads),) * enc,
            decoder_ffn=(space.super_ffn_dim,) * dec,
            decoder_self_heads=(max(space.heads),) * dec,
            decoder_ende_heads=(max(space.heads),) * dec,
            decoder_ende_extra=(0,) * dec,
        )
