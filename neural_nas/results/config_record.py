"""The record of the configuration a run resolved (``config.yaml`` beside its results), never overwritten by another.

Results are only as meaningful as the record of what produced them: a rerun with other settings beside the same
results is recorded next to the first record (``config.2.yaml``, ...), never over it. A record starts with `MARK`, so
a ``config.yaml`` the user wrote in that folder (a Dynamic NAS CSV may sit in the working directory) is never taken
for one, nor overwritten.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from neural_nas.results.journal import write_atomic

logger = logging.getLogger("neural_nas")

MARK = "# neural_nas: the configuration this search ran, every default resolved (written by the search)\n"


def record_config(folder: Path, record: dict[str, Any], *, beside_results: bool) -> Path:
    """Write the configuration a run resolved to ``folder/config.yaml``, unless that file records the other settings
    that produced the results already there: then beside it, as ``config.2.yaml``, ``config.3.yaml``, ..."""
    text = MARK + yaml.safe_dump(record, sort_keys=False)
    path = folder / "config.yaml"
    ours = path.is_file() and _is_record(path)
    if path.is_file() and (beside_results or not ours):
        changed = _changed_keys(_read(path), record) if ours else ["everything"]
        if changed:
            n = 2
            while (folder / f"config.{n}.yaml").is_file():
                if not _changed_keys(_read(folder / f"config.{n}.yaml"), record):
                    break
                n += 1
            if ours:
                logger.warning(
                    "the settings differ from %s, which produced the results already there (%s): this run is "
                    "recorded in config.%d.yaml",
                    path,
                    ", ".join(changed),
                    n,
                )
            else:
                logger.warning("%s is not a record a search wrote: this run is recorded in config.%d.yaml", path, n)
            path = folder / f"config.{n}.yaml"
    write_atomic(path, text)
    return path


def _is_record(path: Path) -> bool:
    """Whether ``path`` is a record a search wrote (one of an older version, without `MARK`, counts as the user's)."""
    with open(path, encoding="utf-8") as f:
        return f.readline() == MARK.rstrip("\n") + "\n"


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def recorded_metrics(csv_path: Path) -> list[str] | None:
    """The searched metrics in the record a search wrote beside ``csv_path`` (``config.yaml``), if it names that
    file; None when there is no such record."""
    record = Path(csv_path).parent / "config.yaml"
    if not record.is_file():
        return None
    try:
        dynas = (_read(record) or {}).get("nas", {}).get("dynas") or {}
    except (yaml.YAMLError, AttributeError):
        return None
    ran_on = dynas.get("results_csv_path")
    if not isinstance(dynas.get("metrics"), list) or not ran_on or Path(ran_on).name != Path(csv_path).name:
        return None
    return [str(m) for m in dynas["metrics"]]


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
