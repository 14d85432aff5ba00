"""Loading the reference's super-network checkpoint into a `SuperTransformer`.

The published file (HAT's ``HAT_wmt14ende_super_space0.pt``) is a fairseq checkpoint: a dict whose ``model`` entry
is the super-network's state dict, beside the training arguments (an ``argparse.Namespace``), optimizer history and
fairseq's own objects. It is read by the library's one reader (`_weights.read_state_dict`: ``weights_only``, those
objects as inert placeholders that run no code); what is fairseq-specific is here: the buffers its modules save
beside the weights, and the embedding table saved under two names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neural_nas.supernets._weights import check_state_dict, read_state_dict

# Buffers the reference's modules save that carry no weights (fairseq's version marks, a dtype placeholder).
IGNORED_SUFFIXES = (".version", "._float_tensor", "embed_positions.weights")


def load_super_weights(model: Any, path: Path, description: str) -> None:
    """Load a checkpoint into a `SuperTransformer`; another architecture is one ConfigError naming the differences."""
    state = {k: v for k, v in read_state_dict(path, description).items() if not k.endswith(IGNORED_SUFFIXES)}
    # The shared embedding is saved under the encoder's and the decoder's name; either one suffices.
    for side, other in (("encoder", "decoder"), ("decoder", "encoder")):
        key = f"{side}.embed_tokens.weight"
        if key not in state and f"{other}.embed_tokens.weight" in state:
            state[key] = state[f"{other}.embed_tokens.weight"]
    check_state_dict(model, state, path, description)
    model.load_state_dict(state)
