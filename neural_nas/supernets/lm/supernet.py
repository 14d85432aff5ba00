"""``hf_causal_lm``: a pretrained Hugging Face decoder model (GPT-2 or the Llama family) as a super-network.

The model is a local folder (``nas.dynas.supernet_ckpt_path``): ``config.json``, weights in ``*.safetensors`` (never
a pickle) and the tokenizer's files. Nothing is downloaded. The genes come from its ``config.json``, one of each per
layer (`neural_nas.supernets.lm.shape`):

- ``keep_layer`` in [0, 1]: whether the layer runs (a dropped layer passes its input on unchanged);
- ``kv_heads``: key/value groups kept, each with all its query heads (GPT-2: heads), about 1/4, 1/2, 3/4 or all;
- ``mlp_channels``: MLP channels kept, about 1/4, 1/2, 3/4 or all of ``intermediate_size``.

Genes of a dropped layer change nothing. The width of the residual stream (the embedding) is not elastic: every layer
and both norms read all of it, and cutting it without retraining breaks them all at once.

Which heads and channels a sub-network keeps: the most important ones, by activation scores on calibration text
computed once and cached beside the results (`neural_nas.supernets.lm.importance`); ``importance = False`` on the
instance keeps the natural order (the benchmark's baseline).

Metrics: ``perplexity`` on ``valid.txt``, ``latency`` (prefill) and ``decode_latency`` (per token) measured
(`neural_nas.supernets.lm.measure`); ``params``, ``macs`` (per token) and ``model_size`` (MB of the weights in the
model's dtype) exact, in closed form.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neural_nas.config.schema import BY_PATH
from neural_nas.errors import ConfigError
from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets._torch_model import TorchModelSuperNetwork
from neural_nas.supernets.encoding import Encoding
from neural_nas.supernets.lm.shape import LMShape, lm_costs

if TYPE_CHECKING:
    from torch import nn

    from neural_nas.measurements.context import MeasureContext, Measurer
    from neural_nas.supernets.graphs import Graph

logger = logging.getLogger("neural_nas")

CKPT_KEY = "nas.dynas.supernet_ckpt_path"
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
DEFAULT_SEQUENCE = 512
LLM_EXTRA = "pip install 'neural-nas[llm]' (transformers, safetensors)"


def require_transformers() -> None:
    """A ConfigError saying what to install when transformers or safetensors is missing."""
    import importlib.util

    missing = [m for m in ("transformers", "safetensors") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError("nas.dynas.supernet", "hf_causal_lm", f"{', '.join(missing)} installed", LLM_EXTRA)


def choices(full: int, multiple: int = 1) -> list[int]:
    """About 1/4, 1/2, 3/4 and all of ``full``, rounded to ``multiple`` (at least one), without repeats."""
    return sorted({max(multiple, round(full * f / multiple) * multiple) for f in FRACTIONS} | {full})


@supernet_registry("hf_causal_lm")
class HFCausalLM(TorchModelSuperNetwork):
    name = "hf_causal_lm"
    metrics = ("perplexity", "params", "macs", "model_size", "latency", "decode_latency")
    exact_metric_names = ("params", "macs", "model_size")
    csv_metrics = ("params", "macs", "model_size", "latency", "perplexity")
    metric_aliases: ClassVar[Mapping[str, str]] = {}
    inner_evals = 5000
    measurement_settings: ClassVar[tuple[str, ...]] = (
        "dataset_path",
        "batch_size",
        "eval_batch_size",
        "test_fraction",
        "calibration_size",
        "sequence_length",
        "latency_warmup",
        "latency_steps",
    )

    def __init__(self, model_dir: str | Path, config: Mapping[str, Any]) -> None:
        super().__init__()
        self.model_dir = Path(model_dir)
        self.shape = LMShape.from_config(config, str(self.model_dir / "config.json"))
        s = self.shape
        # GPT-2 may scale each layer's attention by its position: dropping a layer would change the layers after it.
        keep = [1] if config.get("scale_attn_by_inverse_layer_idx") else [0, 1]
        self.encoding = Encoding(
            {
                "keep_layer": {"count": s.layers, "vars": keep},
                "kv_heads": {"count": s.layers, "vars": choices(s.kv_heads)},
                "mlp_channels": {"count": s.layers, "vars": choices(s.intermediate, 8 if s.intermediate >= 64 else 1)},
            }
        )
        self.importance = True
        self._ordered_by: str | None = None  # the calibration the model's order comes from (None: natural order)

    @classmethod
    def for_settings(cls, settings: Any) -> HFCausalLM:
        path = getattr(settings, "supernet_ckpt_path", None)
        if path is None:
            raise ConfigError(CKPT_KEY, None, "a Hugging Face model folder (config.json, *.safetensors, tokenizer)")
        config_file = Path(path) / "config.json"
        if not config_file.is_file():
            raise ConfigError(
                CKPT_KEY,
                path,
                "a Hugging Face model folder (config.json, *.safetensors, tokenizer)",
                f"{config_file} is missing",
            )
        return cls(path, json.loads(config_file.read_text(encoding="utf-8")))

    def settings_record(self) -> dict[str, Any]:
        return {"supernet_ckpt_path": str(self.model_dir.resolve())}

    def serves(self, settings: Any) -> bool:
        path = getattr(settings, "supernet_ckpt_path", None)
        return path is not None and Path(path).resolve() == self.model_dir.resolve()

    # -- genes and exact costs ------------------------------------------------------------------------------------
    def genes(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(kept, kv_heads, mlp_channels)``, each ``[rows, layers]``, of choice-index vectors."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64))
        n, p = self.shape.layers, self.encoding.params
        kept = np.asarray(p["keep_layer"]["vars"])[vectors[:, :n]].astype(bool)
        kv = np.asarray(p["kv_heads"]["vars"])[vectors[:, n : 2 * n]]
        channels = np.asarray(p["mlp_channels"]["vars"])[vectors[:, 2 * n : 3 * n]]
        return kept, kv, channels

    def exact_metrics(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        return lm_costs(self.shape, *self.genes(vectors))

    def canonical(self, vectors: np.ndarray) -> np.ndarray:
        """A dropped layer's other genes change nothing: they are set to their first choice."""
        out = np.array(vectors, dtype=np.int64, ndmin=2)
        n = self.shape.layers
        dropped = np.asarray(self.encoding.params["keep_layer"]["vars"])[out[:, :n]] == 0
        out[:, n : 2 * n][dropped] = 0
        out[:, 2 * n : 3 * n][dropped] = 0
        return out

    def n_networks(self) -> int:
        p = self.encoding.params
        widths = len(p["kv_heads"]["vars"]) * len(p["mlp_channels"]["vars"])
        can_drop = 0 in p["keep_layer"]["vars"]  # a dropped layer is one network whatever its other genes
        return (int(can_drop) + widths) ** self.shape.layers

    # -- the torch model ---------------------------------------------------------------------------------------------
    def load(self, *, pretrained: bool, ckpt_path: str | None, device: str) -> None:
        """Load the folder's weights (safetensors only) in float32; ``pretrained`` False: random weights of the same
        config (tests, timing)."""
        require_transformers()
        if self._model is None:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM

            if pretrained:
                self.check_weights()
                model = AutoModelForCausalLM.from_pretrained(self.model_dir, use_safetensors=True, dtype=torch.float32)
            else:
                logger.warning("super-network %s is randomly initialised (pretrained=False)", self.name)
                config = AutoConfig.from_pretrained(self.model_dir)
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            self._model = model.eval()
        self._model.to(device)

    def check_weights(self) -> None:
        """A ConfigError unless the folder holds safetensors weights (a pickled checkpoint is never loaded)."""
        if not any(self.model_dir.glob("*.safetensors")):
            raise ConfigError(
                CKPT_KEY,
                str(self.model_dir),
                "a model folder with weights in .safetensors files",
                "pickled checkpoints (.bin, .pt) are not loaded: save the model with safe_serialization",
            )

    def tokenizer(self) -> Any:
        """The folder's own tokenizer; a folder without a usable one is a ConfigError."""
        require_transformers()
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.model_dir)
        except (OSError, ValueError) as err:
            raise ConfigError(
                CKPT_KEY,
                str(self.model_dir),
                "a model folder with its tokenizer (tokenizer.json and its config)",
                str(err).splitlines()[0],
            ) from err

    def sequence_length(self, settings: Any) -> int:
        """Tokens per window: ``nas.dynas.sequence_length``, else the model's longest up to 512."""
        length = getattr(settings, "sequence_length", None) or min(DEFAULT_SEQUENCE, self.shape.positions)
        if length > self.shape.positions:
            raise ConfigError(
                "nas.dynas.sequence_length", length, f"at most the model's {self.shape.positions} positions"
            )
        return int(length)

    def ordered(self, ctx: MeasureContext) -> None:
        """Put the loaded model's heads and channels in importance order (once; scores cached beside the results)."""
        from neural_nas.supernets.lm import importance
        from neural_nas.supernets.lm.measure import sequences, text_file, tokens_of

        if not self.importance:
            return
        d = ctx.conf
        text = text_file(d.dataset_path, "train.txt", "its text scores which heads and channels matter")
        length = self.sequence_length(d)
        weights = "pretrained" if getattr(d, "pretrained", True) else "random"
        key = importance.fingerprint(self.model_dir, text, d.calibration_size, length, weights)
        if self._ordered_by == key:
            return
        if self._ordered_by is not None:
            raise RuntimeError(
                f"{self.name}: this instance is ordered by other calibration settings; create another for these"
            )
        results = d.results_csv_path or BY_PATH["nas.dynas.results_csv_path"].unset  # the CSV's default name if unset
        cache = Path(f"{results}.importance.safetensors")
        scores = importance.cached_scores(cache, key)
        if scores is None:
            batches = sequences(tokens_of(self.tokenizer(), text), length, d.calibration_size)
            logger.info("scoring heads and channels of %s on %d sequences of %s", self.model_dir, len(batches), text)
            scores = importance.importance_scores(self.model, self.shape, batches)
            importance.save_scores(cache, key, scores)
        importance.order(self.model, self.shape, scores)
        self._ordered_by = key

    def active_subnet(self, subnet: Mapping[str, Any]) -> nn.Module:
        from neural_nas.supernets.lm.surgery import subnet_model

        vector = self.encoding.dict_to_vector(subnet)
        kept, kv, channels = (a[0] for a in self.genes(vector[None, :]))
        return subnet_model(self.model, self.shape, kept.tolist(), kv.tolist(), channels.tolist())

    def standalone(self, subnet: Mapping[str, Any], ctx: MeasureContext) -> nn.Module:
        self.ordered(ctx)
        return self.active_subnet(subnet)

    def measurer(self, ctx: MeasureContext) -> Measurer:
        from neural_nas.supernets.lm.measurer import LanguageModelMeasurer

        return LanguageModelMeasurer(self, ctx)

    def example_inputs(self) -> tuple:
        import torch

        return (torch.zeros(1, 8, dtype=torch.long),)

    def export_graphs(self, module: nn.Module) -> list[Graph]:
        from neural_nas.supernets.lm.export import lm_graphs

        return lm_graphs(self, module)

    def input_contract(self) -> dict[str, Any]:
        return {
            "task": "causal language modelling",
            "inputs": "token ids (N, T) of the model's tokenizer (tokenizer files beside the Hugging Face export)",
            "outputs": "next-token logits (N, T, vocabulary)",
            "model_type": self.shape.model_type,
            "vocabulary": self.shape.vocab,
            "max_positions": self.shape.positions,
        }
