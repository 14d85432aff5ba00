"""The Dynamic NAS results file, in the DyNAS-T CSV format, appended durably row by row.

    Sub-network,Date,Model Parameters,Latency (ms),MACs,Top-1 Acc (%)

``Sub-network`` is the sub-network's dict literal; an unmeasured column holds ``0``. A measured value is written so
that it never reads as exactly ``0`` (counts as integers, accuracy and latency as floats: a measured top-1 of zero is
``0.0``). Rows are never rewritten or truncated.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neural_nas.errors import ConfigError
from neural_nas.measurements.metrics import CSV_METRIC_ORDER, metric_registry
from neural_nas.results.journal import DurableAppender, read_complete_lines

HEADER = ["Sub-network", "Date"] + [metric_registry.get(m).csv_column for m in CSV_METRIC_ORDER]


@dataclass
class Row:
    subnet: dict[str, Any]  # the encoded sub-network dict
    metrics: dict[str, float]  # canonical metric name -> value, only the measured ones
    date: str = ""


class ResultsCsv:
    """Reads earlier rows (to resume) and appends new ones, each on disk before `append` returns."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._appender = DurableAppender(self.path)

    def read(self, parse_subnet: Callable[[str], dict[str, Any]]) -> list[Row]:
        """Every complete row; a malformed row is a ConfigError naming the file and line (nothing is dropped silently).

        ``parse_subnet`` turns the ``Sub-network`` literal into an encoded dict (it rejects other super-networks).
        A metric column holding exactly ``0`` means "not measured".
        """
        lines = read_complete_lines(self.path)
        if not lines or not lines[0].strip():
            return []
        text = b"\n".join(lines).decode("utf-8", errors="replace")
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
        if header != HEADER:
            raise ConfigError(f"{self.path}:1", ",".join(header), f"the results CSV header {','.join(HEADER)}")
        rows = []
        for number, fields in enumerate(reader, start=2):
            if not fields:
                continue
            where = f"{self.path}:{number}"
            if len(fields) != len(HEADER):
                raise ConfigError(where, ",".join(fields)[:120], f"a row of {len(HEADER)} columns ({','.join(HEADER)})")
            try:
                subnet = parse_subnet(fields[0])
            except ConfigError as err:
                raise ConfigError(where, fields[0][:120], err.allowed, err.hint) from err
            metrics = {}
            for name, value in zip(CSV_METRIC_ORDER, fields[2:]):
                if value.strip() == "0":
                    continue
                try:
                    number = float(value)
                except ValueError:
                    number = math.nan
                if not math.isfinite(number):
                    column = metric_registry.get(name).csv_column
                    raise ConfigError(where, value, f"a finite number in column {column!r}")
                metrics[name] = number
            rows.append(Row(subnet, metrics, fields[1]))
        return rows

    def append(self, record: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """One row: ``record`` is the ``Sub-network`` dict (as the super-network writes it), metrics by name."""
        values = [_format(m, metrics[m]) if m in metrics else "0" for m in CSV_METRIC_ORDER]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if not self.path.exists() or self.path.stat().st_size == 0:
            writer.writerow(HEADER)
        writer.writerow([repr(dict(record)), str(datetime.datetime.now()), *values])
        self._appender.append(buffer.getvalue().encode())


def _format(metric: str, value: float) -> str:
    if metric in ("params", "macs") and float(value).is_integer() and value != 0:
        return str(int(value))
    return repr(float(value))
