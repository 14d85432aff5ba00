"""The reference's Python configuration objects (``neural_compressor.conf.pythonic_config``, 2.0).

``NAS(Config(nas=NASConfig(approach="dynas", search_algorithm="nsga2", dynas=DyNASConfig(supernet=..., ...))))``.
`NASConfig` is the library's own (its keyword arguments include the reference's); `Config` holds the configs of the
reference's other tools too, which NAS does not use. Users import them from the reference's path,
``neural_nas.conf.pythonic_config``; they live here so that `load_config` can recognise a `Config`.
"""

from __future__ import annotations

from typing import Any

from neural_nas.config.nas_config import NASConfig


class DyNASConfig:
    """The ``nas.dynas`` keys as keyword arguments; ``.config`` is their mapping (for ``NASConfig(dynas=...)``)."""

    def __init__(
        self,
        supernet: str | None = None,
        metrics: list[str] | None = None,
        population: int = 50,
        num_evals: int = 100000,
        results_csv_path: str | None = None,
        dataset_path: str | None = None,
        batch_size: int = 64,
        **more: Any,
    ) -> None:
        self.config = {
            "supernet": supernet,
            "metrics": metrics,
            "population": population,
            "num_evals": num_evals,
            "results_csv_path": results_csv_path,
            "dataset_path": dataset_path,
            "batch_size": batch_size,
            **more,  # any other nas.dynas key; an unknown one is a ConfigError when NASConfig takes it
        }


class Config:
    """The reference's wrapper of every tool's config; NAS reads its ``nas``."""

    def __init__(self, nas: NASConfig | None = None, **other_tools: Any) -> None:
        self.nas = nas
        self.other_tools = other_tools  # quantization=, pruning=, ...: configs of the reference's other tools
