"""The results-store interface: how a search's record (`neural_nas.results.study.Study`) reaches disk and comes back.

Two implementations: `JournalStore` (Basic NAS, ``NASResults/results.jsonl``) and `CsvStore` (Dynamic NAS, the
DyNAS-T results CSV beside a ``.failures.jsonl``). A driver opens the store, replays it into its study (resume), then
appends each trial or failure before measuring the next architecture.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from neural_nas.results.study import Study, Trial

logger = logging.getLogger("neural_nas")


class ResultsStore(Protocol):
    path: Path  # the results file (its lock is ``<path>.lock``)
    failures_path: Path  # where failed measurements are recorded (the same file, or one beside it)

    def replay(self, study: Study, *, retry_failed: bool = False) -> int:
        """Add the file's earlier trials (and, unless ``retry_failed``, failures) to ``study``; returns how many
        trials were new. A corrupt or mismatched file raises `ResultsFileError` before anything is changed on disk."""

    def append_trial(self, trial: Trial) -> None:
        """Write one measurement durably (on disk when this returns)."""

    def append_failure(self, arch: Mapping[str, Any], reason: str) -> None:
        """Write one failed measurement durably: it is not measured again after a restart."""

    # Only the stores of approaches that race (`neural_nas.measurements.racing`: Dynamic NAS's `CsvStore`) have
    # ``append_stopped(arch, record)``: write one candidate stopped by racing durably, with how far it got.


def log_failures_replayed(count: int, source: object) -> None:
    """Say (once per resume) that failures recorded earlier are skipped, and how to retry them."""
    if count:
        logger.info(
            "%d architecture(s) recorded as failed in %s are not measured again (nas.search.retry_failed: true "
            "retries them)",
            count,
            source,
        )
