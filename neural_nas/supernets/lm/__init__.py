"""``hf_causal_lm``: Hugging Face decoder models as super-networks (`neural_nas.supernets.lm.supernet`).

- `shape`: the model's shape from its ``config.json`` and the exact costs of sub-networks (no torch);
- `surgery`: cutting layers, key/value groups and MLP channels out of the torch model;
- `importance`: which heads and channels matter, scored once on calibration text and cached;
- `measure` / `measurer`: perplexity and latency of a sub-network;
- `export`: the graphs of an exported sub-network and the Hugging Face model folder format.

Importing this package needs neither torch nor transformers: `supernet` imports them when a model is loaded.
"""

from neural_nas.supernets.lm import supernet  # noqa: E402, F401  (registers hf_causal_lm)
