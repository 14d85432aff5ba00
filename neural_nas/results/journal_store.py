"""Basic NAS results: one JSON object per line in ``NASResults/results.jsonl`` (a `Journal`).

    {"arch": {...}, "metrics": {"acc": 0.91, ...}, "params": 1234, "time": "..."}   a measurement
    {"arch": {...}, "error": "ValueError: ...", "time": "..."}                        a failure (on_error: skip)

The same records, in a ``{"results": [...]}`` document, are what `NASBase.dump_search_results` writes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neural_nas.config.search_space import SearchSpace
from neural_nas.errors import MeasurementError, ResultsFileError
from neural_nas.results.journal import Journal, timestamp
from neural_nas.results.store import log_failures_replayed
from neural_nas.results.study import Study, Trial, arch_key, finite_metrics

logger = logging.getLogger("neural_nas")


class JournalStore:
    """`ResultsStore` over a JSON-lines journal; earlier architectures outside ``space`` stay on disk, unused."""

    def __init__(self, path: str | os.PathLike, space: SearchSpace | None) -> None:
        self.path = self.failures_path = Path(path)
        self.space = space
        self._journal = Journal(self.path)

    def replay(self, study: Study, *, retry_failed: bool = False) -> int:
        loaded = replay_records(study, self._journal.read(), self.space, source=self.path, retry_failed=retry_failed)
        if loaded:
            logger.info("resuming: %d earlier result(s) loaded from %s", loaded, self.path)
        return loaded

    def append_trial(self, trial: Trial) -> None:
        self._journal.append({**trial.as_record(), "time": timestamp()})

    def append_failure(self, arch: Mapping[str, Any], reason: str) -> None:
        self._journal.append({"arch": dict(arch), "error": reason, "time": timestamp()})


def read_results(path: Path) -> list[Any]:
    """The records of a ``results.jsonl`` journal, or of a `NASBase.dump_search_results` JSON document. Pickled files
    (the reference's ``.npy``) are refused: loading a pickle can execute arbitrary code."""
    if not path.is_file():
        raise FileNotFoundError(f"search results file not found: {str(path)!r}")
    if path.suffix in (".npy", ".npz", ".pkl", ".pickle"):
        raise ResultsFileError(
            str(path),
            path.suffix,
            "a JSON (.json) or JSON-lines (.jsonl) results file",
            "pickled files are not loaded because unpickling can execute code",
        )
    if path.suffix == ".jsonl":
        return Journal(path).read()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsFileError(
            str(path), "<unparsable>", "a JSON document written by dump_search_results", str(err)
        ) from err
    if not isinstance(document, Mapping) or not isinstance(document.get("results"), list):
        raise ResultsFileError(str(path), type(document).__name__, "a JSON object with a 'results' list")
    return document["results"]


def replay_records(
    study: Study,
    records: Sequence[Any],
    space: SearchSpace | None,
    *,
    source: Any,
    retry_failed: bool = False,
) -> int:
    """Merge stored records into ``study``; returns how many trials were new. Every record is checked first."""
    parsed, skipped, expected = [], 0, study.metric_names
    for number, record in enumerate(records, start=1):
        where = f"{source} record {number}"
        failure = isinstance(record, Mapping) and "error" in record and "metrics" not in record
        if (
            not isinstance(record, Mapping)
            or not isinstance(record.get("arch"), Mapping)
            or not (failure or isinstance(record.get("metrics"), Mapping))
        ):
            raise ResultsFileError(
                where,
                record,
                "an object with 'arch' and 'metrics' mappings (or 'arch' and 'error' for a failed measurement)",
            )
        arch = dict(record["arch"]) if space is None else _match_space(record["arch"], space)
        if arch is None:
            skipped += 1
            continue
        if failure:
            parsed.append((arch, None, None))
            continue
        try:
            metrics = finite_metrics(arch, record["metrics"])
        except MeasurementError as err:
            raise ResultsFileError(where, record, "finite numbers as metric values", err.reason) from None
        names = list(metrics)
        if expected is not None and names != expected:
            raise ResultsFileError(
                where,
                names,
                f"results of the metrics of this search ({expected})",
                "set nas.search.metrics to the earlier metrics, or search in a new results folder",
            )
        expected = names
        parsed.append((arch, metrics, record.get("params")))
    if study.metric_names is None and expected is not None:
        study.define_metrics(expected)  # every record is checked: the study changes only now
    added = failed = 0
    networks = [arch_key(arch) for arch, metrics, _ in parsed if metrics is not None or not retry_failed]
    # A record of an architecture recorded already (measured again after a failure) was a measurement spent.
    study.record_repeats(len(networks) - len(set(networks)))
    for arch, metrics, params in parsed:
        if metrics is not None:
            added += study.add_trial(arch, metrics, params)
        elif not retry_failed:
            failed += study.add_failure(arch)
    if skipped:
        logger.warning(
            "%d earlier result(s) in %s are outside the current search space; kept on disk, not used", skipped, source
        )
    log_failures_replayed(failed, source)
    return added


def _match_space(arch: Mapping[str, Any], space: SearchSpace) -> dict[str, Any] | None:
    """Map stored (JSON) values back to the search space's own choices; None if the architecture is not in it."""
    if set(arch) != set(space.names):
        return None
    out = {}
    for name, choices in zip(space.names, space.choices):
        stored = json.dumps(arch[name], sort_keys=True)
        match = [c for c in choices if json.dumps(c, sort_keys=True) == stored]
        if not match:
            return None
        out[name] = match[0]
    return out
