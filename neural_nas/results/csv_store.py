"""Dynamic NAS results: the DyNAS-T results CSV (`ResultsCsv`) and, beside it, ``<csv>.failures.jsonl`` and
``<csv>.racing.jsonl``.

The CSV format has no error column and other tools read it, so failed measurements (``on_error: skip``) go to their
own journal, and so do sub-networks whose validation was stopped by racing (``nas.dynas.racing``): the CSV holds only
sub-networks measured on the whole data, exactly as without racing. Replaying a CSV checks it against the configured
super-network: its rows must parse as that network's sub-networks and agree with the metrics it computes exactly
(MACs, parameters), which catches a file of another super-network before any of its rows is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neural_nas.errors import ConfigError, ResultsFileError
from neural_nas.results.dynast_csv import ResultsCsv
from neural_nas.results.journal import Journal, timestamp
from neural_nas.results.store import log_failures_replayed
from neural_nas.results.study import Study, Trial, arch_key

logger = logging.getLogger("neural_nas")


def latency_setup_path(csv_path: str | os.PathLike) -> Path:
    """Where each search that measures latency into a results CSV records how: ``<csv>.latency.jsonl``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + ".latency.jsonl")


def racing_path(csv_path: str | os.PathLike) -> Path:
    """Where sub-networks stopped by racing are recorded, with how far each got: ``<csv>.racing.jsonl``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + ".racing.jsonl")


def failures_path(csv_path: str | os.PathLike) -> Path:
    """Where failed measurements of a search with ``on_error: skip`` are recorded: ``<csv>.failures.jsonl``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + ".failures.jsonl")


class CsvStore:
    """`ResultsStore` over a DyNAS-T CSV. ``metrics``: the search's metrics (canonical names, in order); a new file
    gets the super-network's CSV columns (`SuperNetwork.csv_metrics`) followed by any other of them."""

    def __init__(self, path: str | os.PathLike, supernet: Any, metrics: Sequence[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError("nas.dynas.results_csv_path", str(path), "the path of a results CSV file, not a folder")
        if not self.path.parent.is_dir():  # a typo in the folder must not leave the results somewhere unexpected
            raise ConfigError(
                "nas.dynas.results_csv_path",
                str(path),
                "the path of a results CSV in an existing folder",
                f"{self.path.parent} does not exist: create it, or correct the path",
            )
        self.supernet = supernet
        columns = list(supernet.csv_metrics) + [m for m in metrics if m not in supernet.csv_metrics]
        self.csv = ResultsCsv(self.path, columns)
        self.failures_path = failures_path(self.path)
        self._holds_latencies = False  # known once the file is replayed
        self.failures = Journal(self.failures_path)
        self.stopped = Journal(racing_path(self.path))
        # A metric the super-network computes exactly needs no column: it is computed again when the file is read.
        exact = set(supernet.exact_metric_names)
        missing = [m for m in metrics if m not in self.csv.metric_columns and m not in exact]
        if missing:
            raise ResultsFileError(
                str(self.path),
                ",".join(self.csv.header()),
                f"a column for every measured metric of this search ({', '.join(missing)} missing)",
                "point nas.dynas.results_csv_path at a new file",
            )

    def replay(self, study: Study, *, retry_failed: bool = False) -> int:
        added, networks = self._replay_rows(study)
        networks += self._replay_stopped(study)
        if not retry_failed:
            networks += self._replay_failures(study)
        # A network recorded in two rows (under other inactive genes, or failed and then measured) cost two.
        study.record_repeats(len(networks) - len(set(networks)))
        return added

    def _replay_rows(self, study: Study) -> tuple[int, list[tuple]]:
        """Add the file's rows to ``study``; returns how many were new and the network of each row used."""
        rows = self.csv.read(self.supernet.parse_record)
        self._holds_latencies = any("latency" in row.metrics for row in rows)
        if not rows:
            return 0, []
        vectors = np.stack([self.supernet.encoding.dict_to_vector(r.subnet) for r in rows])
        exact = self.supernet.exact_metrics(vectors)
        for name, values in exact.items():  # rows of another super-network give other MACs/params
            for row, value in zip(rows, values):
                if name in row.metrics and row.metrics[name] != value:
                    raise ResultsFileError(
                        f"{self.path}:{row.line}",
                        row.metrics[name],
                        f"results of {self.supernet.name} ({name} {int(value)} for this sub-network)",
                        "the file holds results of another super-network; point nas.dynas.results_csv_path elsewhere",
                    )
        added = incomplete = 0
        networks = []
        # Each row under its network's canonical encoding: rows written under other inactive genes (before encodings
        # were canonical, or by the reference) stay in the file and count once per network.
        canonical = self.supernet.canonical(vectors)
        for i, row in enumerate(rows):
            metrics = {**{k: float(v[i]) for k, v in exact.items()}, **row.metrics}
            if any(m not in metrics for m in study.metric_names):
                incomplete += 1  # e.g. latency never measured in that file: not a result for this search
                continue
            subnet = self.supernet.encoding.vector_to_dict(canonical[i])
            networks.append(arch_key(subnet))
            added += study.add_trial(subnet, metrics)
        logger.info(
            "resuming from %s: %d earlier sub-networks%s",
            self.path,
            len(study),
            f" ({incomplete} rows lack a configured metric and are not used)" if incomplete else "",
        )
        return added, networks

    def _parse_arch(self, record: Any, where: str) -> dict[str, Any]:
        """The canonical sub-network of a journal record's ``arch``; a ResultsFileError names ``where`` otherwise."""
        try:
            subnet = self.supernet.parse_record(record["arch"])
        except ConfigError as err:
            raise ResultsFileError(where, record["arch"], err.allowed, err.hint) from err
        encoding = self.supernet.encoding
        return encoding.vector_to_dict(self.supernet.canonical(encoding.dict_to_vector(subnet))[0])

    def _replay_stopped(self, study: Study) -> list[tuple]:
        """Add the sub-networks stopped by racing to ``study``; returns the network of each record."""
        networks, added = [], 0
        for number, record in enumerate(self.stopped.read(), start=1):
            where = f"{self.stopped.path}:{number}"
            metrics = record.get("metrics")
            if "arch" not in record or not isinstance(metrics, dict):
                raise ResultsFileError(where, record, "an object with 'arch' (a sub-network) and 'metrics'")
            subnet = self._parse_arch(record, where)
            networks.append(arch_key(subnet))
            added += study.add_stopped(subnet, {k: float(v) for k, v in metrics.items()})
        if added:
            logger.info("%d sub-network(s) stopped by racing (%s) are not measured again", added, self.stopped.path)
        return networks

    def _replay_failures(self, study: Study) -> list[tuple]:
        """Add the recorded failures to ``study``; returns the network of each record."""
        records = self.failures.read()
        failed, networks = 0, []
        for number, record in enumerate(records, start=1):
            where = f"{self.failures.path}:{number}"
            if "arch" not in record or not isinstance(record.get("error"), str):
                raise ResultsFileError(where, record, "an object with 'arch' (a sub-network) and 'error' (a string)")
            canonical = self._parse_arch(record, where)
            networks.append(arch_key(canonical))
            failed += study.add_failure(canonical)
        log_failures_replayed(failed, self.failures.path)
        return networks

    def record_latency_setup(self, setup: Mapping[str, Any], results_before: int) -> None:
        """Append how this search measures latency (device, torch threads, batch, ...) beside the CSV, whose format
        has no place for it; warn if the file's earlier latencies were measured otherwise (not comparable), or
        by a search that did not say how (a file of the reference, or of an earlier version). Call after `replay`."""
        journal = Journal(latency_setup_path(self.path))
        earlier = [{k: r.get(k) for k in setup} for r in journal.read()]
        if not earlier and self._holds_latencies:
            logger.warning(
                "%s holds latencies measured without a record of how (device, threads, batch); this search measures "
                "with %s: compare them with care",
                self.path,
                dict(setup),
            )
        if earlier and earlier[-1] != dict(setup):
            logger.warning(
                "the latencies already in %s were measured with %s; this search measures with %s: they do not compare",
                self.path,
                earlier[-1],
                dict(setup),
            )
        journal.append({**setup, "results_before": results_before, "time": timestamp()})

    def append_trial(self, trial: Trial) -> None:
        self.csv.append(self.supernet.subnet_record(trial.arch), trial.metrics)

    def append_stopped(self, arch: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        """Write a sub-network stopped by racing (``record``: how far it got, its estimate) beside the CSV."""
        self.stopped.append({"arch": self.supernet.subnet_record(arch), **record, "time": timestamp()})

    def append_failure(self, arch: Mapping[str, Any], reason: str) -> None:
        self.failures.append({"arch": self.supernet.subnet_record(arch), "error": reason, "time": timestamp()})


def check_belongs(csv_path: str | os.PathLike, supernet: Any) -> None:
    """A ResultsFileError unless every row of ``csv_path`` is a sub-network of ``supernet`` with its exact MACs and
    parameters (the file is only read)."""
    from neural_nas._log import quiet

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ResultsFileError(str(csv_path), "no such file", "an existing results CSV")
    columns = ResultsCsv(csv_path).metric_columns
    with quiet():
        CsvStore(csv_path, supernet, columns).replay(Study(columns, [True] * len(columns)))
