"""The Dynamic NAS results file, in the DyNAS-T CSV format, appended durably row by row.

    Sub-network,Date,Model Parameters,Latency (ms),MACs,Top-1 Acc (%)

``Sub-network`` is the sub-network's dict literal; each other column is one metric, named by the ``csv_column`` its
`Metric` declares. The header of an existing file decides its columns (names compared without surrounding spaces,
blank lines before it skipped), so files of other DyNAS-T layouts resume and new rows always follow the file's own
header. A new file gets the columns it is created with (the DyNAS-T four by default).

An unmeasured column holds ``0``. A measured value is written so that it never reads as exactly ``0`` (counts as
integers, other metrics as floats: a measured top-1 of zero is ``0.0``). Rows are never rewritten or truncated.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neural_nas.errors import ConfigError, ResultsFileError
from neural_nas.measurements.metrics import DYNAST_CSV_METRICS, metric_registry
from neural_nas.results.journal import DurableAppender, read_complete_lines

FIXED_COLUMNS = ["Sub-network", "Date"]
HEADER = FIXED_COLUMNS + [metric_registry.get(m).csv_column for m in DYNAST_CSV_METRICS]
# Metrics whose values are counts: written as integers.
_COUNTS = ("params", "macs")


@dataclass
class Row:
    subnet: dict[str, Any]  # the encoded sub-network dict
    metrics: dict[str, float]  # canonical metric name -> value, only the measured ones
    date: str = ""
    line: int = 0  # its line in the file (from 1), for messages


class ResultsCsv:
    """Reads earlier rows (to resume) and appends new ones, each on disk before `append` returns.

    ``metrics``: the metric columns (canonical names, in order) of a file this object creates; an existing file keeps
    the columns of its header.
    """

    def __init__(self, path: str | os.PathLike, metrics: Sequence[str] = DYNAST_CSV_METRICS) -> None:
        self.path = Path(path)
        self._appender = DurableAppender(self.path)
        self._new_columns = [metric_registry.canonical(m) for m in metrics]
        self._columns: list[str] | None = None  # of the file on disk, once read
        self._has_header: bool | None = None
        self._first_line = 1  # of the header (set by _lines)

    @property
    def metric_columns(self) -> list[str]:
        """The metrics (canonical names) of this file's columns, in order."""
        if self._columns is None:
            header = self._header()
            self._columns = self._new_columns if header is None else self._parse_header(header)
        return list(self._columns)

    def header(self) -> list[str]:
        return FIXED_COLUMNS + [metric_registry.get(m).csv_column for m in self.metric_columns]

    def _lines(self) -> list[str]:
        """The complete lines from the header on (blank lines before it, as some reference files have, dropped);
        ``self._first_line`` is the header's line number."""
        lines = read_complete_lines(self.path)
        text = b"\n".join(lines).decode("utf-8-sig", errors="replace").replace("\r\n", "\n")  # -sig: a BOM
        rows = text.split("\n")
        self._first_line = 1
        while rows and not rows[0].strip():
            rows.pop(0)
            self._first_line += 1
        return rows

    def _header(self) -> list[str] | None:
        lines = self._lines()
        return next(csv.reader([lines[0]])) if lines else None

    def _parse_header(self, header: list[str]) -> list[str]:
        if [c.strip() for c in header[:2]] != FIXED_COLUMNS:
            raise ResultsFileError(
                f"{self.path}:{self._first_line}",
                ",".join(header),
                f"a results CSV header starting {','.join(FIXED_COLUMNS)}",
            )
        names = []
        for column in header[2:]:
            metric = metric_registry.by_column(column)
            if metric is None:
                known = ", ".join(repr(metric_registry.get(m).csv_column) for m in metric_registry.names())
                raise ResultsFileError(
                    f"{self.path}:{self._first_line}",
                    column,
                    f"a metric column ({known})",
                    "register the metric with neural_nas.measurements.metric_registry.add(Metric(...)) first",
                )
            names.append(metric.name)
        return names

    def read(self, parse_subnet: Callable[[str], dict[str, Any]]) -> list[Row]:
        """Every complete row; a malformed row is a ResultsFileError naming the file and line (nothing is dropped
        silently). ``parse_subnet`` turns the ``Sub-network`` literal into an encoded dict (it rejects other
        super-networks with a ConfigError). A metric column holding exactly ``0`` means "not measured"."""
        lines = self._lines()
        if not lines or not lines[0].strip():
            return []
        columns = self.metric_columns
        width = 2 + len(columns)
        rows = []
        for number, fields in enumerate(csv.reader(io.StringIO("\n".join(lines[1:]))), start=self._first_line + 1):
            if not fields:
                continue
            where = f"{self.path}:{number}"
            if len(fields) != width:
                raise ResultsFileError(
                    where, ",".join(fields)[:120], f"a row of {width} columns ({','.join(self.header())})"
                )
            try:
                subnet = parse_subnet(fields[0])
            except ConfigError as err:
                raise ResultsFileError(where, fields[0][:120], err.allowed, err.hint) from err
            metrics = {}
            for name, value in zip(columns, fields[2:]):
                if value.strip() == "0":
                    continue
                try:
                    measured = float(value)
                except ValueError:
                    measured = math.nan
                metric = metric_registry.get(name)
                if not math.isfinite(measured):
                    raise ResultsFileError(where, value, f"a finite number in column {metric.csv_column!r}")
                if not metric.accepts(measured):
                    raise ResultsFileError(
                        where,
                        value,
                        f"{metric.valid_text} in column {metric.csv_column!r} ({metric.unit})",
                        "the row cannot be a measurement of this metric: correct or remove it",
                    )
                metrics[name] = measured
            rows.append(Row(subnet, metrics, fields[1], number))
        return rows

    def append(self, record: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """One row: ``record`` is the ``Sub-network`` dict (as the super-network writes it), metrics by name
        (those without a column in this file are not written)."""
        values = [_format(m, metrics[m]) if m in metrics else "0" for m in self.metric_columns]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if self._has_header is None:
            self._has_header = self._header() is not None
        if not self._has_header:
            writer.writerow(self.header())
            self._has_header = True
        writer.writerow([repr(dict(record)), str(datetime.datetime.now()), *values])
        self._appender.append(buffer.getvalue().encode())


def _format(metric: str, value: float) -> str:
    if metric in _COUNTS and float(value).is_integer() and value != 0:
        return str(int(value))
    return repr(float(value))
