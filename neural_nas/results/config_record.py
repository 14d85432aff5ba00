"""The record of the configuration a run resolved (``config.yaml`` beside its results), never overwritten by another.

Results are only as meaningful as the record of what produced them: a rerun with other settings beside the same
results is recorded next to the first record (``config.2.yaml``, ...), never over it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from neural_nas.results.journal import write_atomic

logger = logging.getLogger("neural_nas")


def record_config(folder: Path, record: dict[str, Any], *, beside_results: bool) -> Path:
    """Write the configuration a run resolved to ``folder/config.yaml``, unless that file records the other settings
    that produced the results already there: then beside it, as ``config.2.yaml``, ``config.3.yaml``, ..."""
    text = yaml.safe_dump(record, sort_keys=False)
    path = folder / "config.yaml"
    if beside_results and path.is_file():
        changed = _changed_keys(yaml.safe_load(path.read_text(encoding="utf-8")), record)
        if changed:
            n = 2
            while (folder / f"config.{n}.yaml").is_file():
                if not _changed_keys(yaml.safe_load((folder / f"config.{n}.yaml").read_text(encoding="utf-8")), record):
                    break
                n += 1
            logger.warning(
                "the settings differ from %s, which produced the results already there (%s): this run is recorded "
                "in config.%d.yaml",
                path,
                ", ".join(changed),
                n,
            )
            path = folder / f"config.{n}.yaml"
    write_atomic(path, text)
    return path


def _changed_keys(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ; a key missing or null on one side (an older, sparser record) is unknown."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in after:
            if key in before:
                out += _changed_keys(before[key], after[key], f"{prefix}{key}.")
        return out
    if before is None or after is None or before == after:
        return []
    return [prefix.rstrip(".")]
