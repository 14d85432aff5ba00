"""The record of the configuration a search resolved (``config.yaml`` beside its results), never overwritten by another.

Results are only as meaningful as the record of what produced them. The record's first line names the results file
it belongs to (`MARK`), so:

- a rerun with other settings beside the same results is recorded next to the first record (``config.2.yaml``, ...);
- a search into another results file of the same folder (two Dynamic NAS CSVs in one working directory) gets a
  record of its own instead of taking over the first;
- a ``config.yaml`` the user wrote in that folder is never taken for a record, nor overwritten.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

from neural_nas.results.journal import write_atomic

logger = logging.getLogger("neural_nas")

MARK = "# neural_nas: the configuration of the search into {name}, every default resolved (written by the search)\n"
_MARK_PATTERN = re.compile(r"# neural_nas: the configuration of the search into (.+), every default resolved")


def record_config(results_file: Path, record: dict[str, Any], *, beside_results: bool) -> Path:
    """Write the configuration a search into ``results_file`` resolved to ``config.yaml`` beside it; where that file
    is not this search's record to replace, to the first ``config.<n>.yaml`` that is. Returns the path written.

    The search's own record is replaced when its results file is new (``beside_results`` False) or when it records the
    same settings; a record of other settings that produced the results already there is kept."""
    folder, name = results_file.parent, results_file.name
    differs: tuple[Path, list[str]] | None = None  # the first record of other settings that produced these results
    for n in range(1, 10_000):
        path = folder / ("config.yaml" if n == 1 else f"config.{n}.yaml")
        if not path.is_file():
            break
        if _results_of(path) != name:
            continue  # the user's file, or the record of another results file
        changed = _changed_keys(_read(path), record) if beside_results else []
        if not changed:
            break
        differs = differs or (path, changed)
    if differs is not None:
        logger.warning(
            "the settings differ from %s, which produced the results already in %s (%s): this run is recorded in %s",
            differs[0],
            name,
            ", ".join(differs[1]),
            path.name,
        )
    elif path.name != "config.yaml":
        logger.info("%s is not the record of %s: this run is recorded in %s", folder / "config.yaml", name, path.name)
    write_atomic(path, MARK.format(name=name) + yaml.safe_dump(record, sort_keys=False))
    return path


def record_of(results_file: Path) -> Path | None:
    """The latest record beside ``results_file`` that belongs to it (None: there is none)."""
    found = None
    for n in range(1, 10_000):
        path = results_file.parent / ("config.yaml" if n == 1 else f"config.{n}.yaml")
        if not path.is_file():
            return found
        if _results_of(path) == results_file.name:
            found = path
    return found


def recorded_metrics(csv_path: Path) -> list[str] | None:
    """The searched metrics in the record of the search into ``csv_path``; None when there is no such record."""
    record = record_of(Path(csv_path))
    if record is None:
        return None
    try:
        dynas = (_read(record) or {}).get("nas", {}).get("dynas") or {}
    except (yaml.YAMLError, AttributeError):
        return None
    metrics = dynas.get("metrics")
    return [str(m) for m in metrics] if isinstance(metrics, list) else None


def _results_of(path: Path) -> str | None:
    """The results file a record names in its first line; None for a file that is not a record."""
    with open(path, encoding="utf-8") as f:
        match = _MARK_PATTERN.match(f.readline())
    return match.group(1) if match else None


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


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
