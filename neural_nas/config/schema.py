"""The configuration schema: one row per key (path, constraint, default, doc).

The same table validates configs, fills in defaults and renders `docs/config-reference.md`; tests draw a bad
value for every key from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neural_nas.config.constraints import (
    AnyOf,
    Boolean,
    Constraint,
    Interval,
    ListOf,
    OneOf,
    SearchSpaceMapping,
    String,
)


@dataclass(frozen=True)
class Key:
    path: str
    constraint: Constraint
    default: Any
    doc: str
    # What an unset (null) value resolves to when that is one value for every search (`NASConfig.resolved`). Reading
    # the key still gives `default`, as the reference's config did; values that depend on the search (the
    # super-network's inner evaluations, the objective count's algorithm, the device) say so in `doc`.
    unset: Any = None


# Sections are mappings whose keys are themselves declared below.
SECTIONS: dict[str, str] = {
    "": "the whole configuration document",
    "nas": "Neural architecture search settings.",
    "nas.search": "Settings shared by every approach; search space, metrics and trial budget apply to Basic NAS.",
    "nas.dynas": "Dynamic NAS (super-network) settings; used when `nas.approach` is `dynas`.",
}

# Top-level sections of the reference's YAML documents that other components read (or that belong to other
# tools of the reference). They are accepted on purpose; `train` and `evaluation` are validated by the built-in trainer.
FREE_SECTIONS: dict[str, str] = {
    "model": "Model description (accepted for compatibility with the reference's YAML; not used by NAS).",
    "device": "`cpu` or `gpu`: where the built-in Basic NAS training and evaluation run.",
    "version": "Version tag of the reference's YAML format (accepted, not used; the file is never rewritten).",
    "train": "Built-in Basic NAS training (optimizer, criterion, dataloader, epochs); see docs/basic_nas.md.",
    "evaluation": "Built-in Basic NAS evaluation (`accuracy.metric.topk`, dataloader); see docs/basic_nas.md.",
    "tuning": "Accepted for compatibility with the reference's YAML; not used by NAS.",
    "quantization": "Accepted for compatibility with the reference's YAML; not used by NAS.",
    "pruning": "Accepted for compatibility with the reference's YAML; not used by NAS.",
    "distillation": "Accepted for compatibility with the reference's YAML; not used by NAS.",
    "graph_optimization": "Accepted for compatibility with the reference's YAML; not used by NAS.",
    "mixed_precision": "Accepted for compatibility with the reference's YAML; not used by NAS.",
    "benchmark": "Accepted for compatibility with the reference's YAML; not used by NAS.",
}

_int_ge = lambda low: Interval(int, low, None, "left")  # noqa: E731  (a table reads better with a short helper)
_opt_str = AnyOf(String(), None)

KEYS: tuple[Key, ...] = (
    Key(
        "nas.approach",
        _opt_str,
        None,
        "Registered approach name (case-insensitive): `basic`, `dynas` or a user's. Unset -> `basic`, with a warning.",
    ),
    Key(
        "nas.search.search_space",
        AnyOf(SearchSpaceMapping(), None),
        None,
        "Basic NAS: `{name: [choice, ...]}`; keys are handled in sorted order.",
    ),
    Key(
        "nas.search.search_algorithm",
        _opt_str,
        None,
        "Basic NAS: `grid`, `random`, `bo` or a registered searcher (unset -> `bo`). "
        "Dynamic NAS: by objective count, see docs.",
    ),
    Key(
        "nas.search.metrics",
        AnyOf(ListOf(String()), None),
        None,
        "Basic NAS: metric names, in the order the eval function returns them. Unset -> the keys of a returned dict.",
    ),
    Key(
        "nas.search.higher_is_better",
        AnyOf(ListOf(Boolean()), None),
        None,
        "Basic NAS: one bool per metric. Unset -> all true.",
    ),
    Key(
        "nas.search.max_trials",
        AnyOf(_int_ge(1), None),
        None,
        "Basic NAS: how many architectures to measure in all, earlier (resumed) results included.",
        unset=3,
    ),
    Key("nas.search.seed", Interval(int, 0, None, "left"), 42, "Seed of every random choice the search makes."),
    Key(
        "nas.search.on_error",
        OneOf("raise", "skip"),
        "raise",
        "A measurement (or train/eval function) that raises or returns NaN: `raise` stops the search (everything "
        "measured so far stays on disk); `skip` records the failure, never measures that architecture again and "
        "goes on. See docs/reliability.md.",
    ),
    Key(
        "nas.search.max_consecutive_failures",
        _int_ge(1),
        10,
        "With `on_error: skip`, the search stops with an error after this many failed measurements in a row.",
    ),
    Key(
        "nas.search.retry_failed",
        Boolean(),
        False,
        "On resume, measure again the architectures recorded as failed by an earlier `on_error: skip` search.",
    ),
    Key("nas.dynas.supernet", _opt_str, None, "Registered super-network name (required for Dynamic NAS)."),
    Key(
        "nas.dynas.metrics",
        AnyOf(ListOf(String(), 1, 3), None),
        None,
        "1 to 3 objectives the super-network can measure, in this order (`acc`, `macs`, `params`, `lat`, ...).",
    ),
    Key(
        "nas.dynas.constraints",
        ListOf(String(), 0),
        [],
        "Constraints on the super-network's exact metrics, e.g. `params<=1.5e8` or `macs<=300M`: the search "
        "measures only sub-networks that meet them all (the CLI's `search --where`).",
    ),
    Key("nas.dynas.population", _int_ge(10), 50, "Sub-networks measured per loop."),
    Key("nas.dynas.num_evals", _int_ge(1), 100000, "Measurements in all, earlier (resumed) rows included."),
    Key(
        "nas.dynas.results_csv_path",
        _opt_str,
        None,
        "Results CSV; an existing file resumes the search.",
        unset="dynas_results.csv",
    ),
    Key(
        "nas.dynas.dataset_path",
        _opt_str,
        None,
        "Data set root (needed for accuracy): an ImageFolder with `train/` and `val/`; for `bert_base_sst2` the GLUE "
        "SST-2 folder with `dev.tsv` (and `vocab.txt`); for `transformer_lt_wmt_en_de` the fairseq data-bin folder "
        "(`dict.en.txt`, `dict.de.txt`, `test.en-de.{en,de}.{bin,idx}`).",
    ),
    Key(
        "nas.dynas.supernet_ckpt_path", _opt_str, None, "Super-network weights file; unset -> the cache, then download."
    ),
    Key("nas.dynas.batch_size", _int_ge(1), 64, "Latency measurement batch size."),
    Key(
        "nas.dynas.eval_batch_size",
        _int_ge(1),
        64,
        "Accuracy evaluation batch size (for BLEU, sentences per batch: its BLEU is the mean of the batches').",
    ),
    Key("nas.dynas.num_workers", Interval(int, 0, None, "left"), 20, "Data-loader worker processes."),
    Key(
        "nas.dynas.distributed",
        Boolean(),
        False,
        "Split each population across `torchrun` ranks (gloo on CPU, "
        "NCCL on GPU); rank 0 owns the results file and the predictors. Without torchrun: one process.",
    ),
    Key("nas.dynas.test_fraction", Interval(float, 0, 1, "right"), 1.0, "Share of the validation set used, in (0, 1]."),
    # Beyond the reference's keys.
    Key(
        "nas.dynas.search_tactic",
        String(),
        "linas",
        "`linas` (predictors in the loop), `evolutionary` (every individual measured) or `random`.",
    ),
    Key(
        "nas.dynas.initial_population",
        AnyOf(_int_ge(2), None),
        None,
        "Random sub-networks measured before the predictors are first fitted. Unset -> 20, or `population` if "
        "smaller (the reference measures a whole population first; fewer reach a good front with fewer measurements, "
        "benchmarks/RESULTS.md).",
    ),
    Key(
        "nas.dynas.inner_evals",
        AnyOf(_int_ge(1), None),
        None,
        "Predicted evaluations of the evolutionary search per loop. Unset -> the super-network's (20,000 for OFA "
        "MobileNetV3/ProxylessNAS, 5,000 for ResNet-50).",
    ),
    Key(
        "nas.dynas.pretrained",
        Boolean(),
        True,
        "Load the super-network's trained weights; false -> random initialisation (efficiency metrics, tests).",
    ),
    Key(
        "nas.dynas.device",
        _opt_str,
        None,
        "Torch device of the measurements (`cpu`, `cuda`, `cuda:1`). Unset -> `cuda` when available, else `cpu`.",
    ),
    Key(
        "nas.dynas.calibration_size",
        _int_ge(1),
        2000,
        "Images of `train/` used to recalibrate BatchNorm statistics before each accuracy measurement; for "
        "`hf_causal_lm`, sequences of `train.txt` that score the importance of heads and channels (once).",
    ),
    Key(
        "nas.dynas.sequence_length",
        AnyOf(_int_ge(2), None),
        None,
        "`hf_causal_lm`: tokens per perplexity window and per timed prefill. Unset -> the model's longest, at most "
        "512.",
    ),
    Key(
        "nas.dynas.mp_calibration_samples",
        _int_ge(1),
        100,
        "Quantization super-networks (`inc_quantization_ofa_resnet50`): training images that calibrate the int8 "
        "activation ranges of each sub-network (the reference's name and default); the first ones of the "
        "`calibration_size` BatchNorm images, so at most `calibration_size`.",
    ),
    Key(
        "nas.dynas.racing",
        Boolean(),
        False,
        "Race each sub-network's validation (top-1, SST-2 accuracy, BLEU): measure it on nested seeded shares of the "
        "data (1/8, 2/8, ..., all) and stop it once even its optimistic bound (99 % per check), with its other "
        "metrics, is dominated by the measured front. A stopped one counts toward `num_evals`, is never measured "
        "again and is recorded in `<csv>.racing.jsonl`; the CSV holds only whole measurements. False: every "
        "sub-network is validated on the whole set.",
    ),
    Key("nas.dynas.latency_warmup", Interval(int, 0, None, "left"), 10, "Untimed forward passes before timing."),
    Key("nas.dynas.latency_steps", _int_ge(1), 50, "Timed forward passes; latency is their mean (ms per batch)."),
)

BY_PATH: dict[str, Key] = {k.path: k for k in KEYS}
