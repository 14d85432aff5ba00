"""Durable append-only files: each record is on disk (flushed and fsynced) before `append` returns.

A crash can lose at most the line being written; readers skip such a torn last line (one without its newline), and
the first append of a new run cuts it off so the next record starts on a line of its own. Complete lines are never
rewritten or truncated.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from pathlib import Path
from typing import Any

from neural_nas.errors import ResultsFileError

logger = logging.getLogger("neural_nas")

# The torn tails already reported, by (file, complete lines before it, its length).
_TORN_TAILS_SAID: set[tuple[str, int, int]] = set()


def read_complete_lines(path: Path) -> list[bytes]:
    """The complete lines of a file (without their newlines); a torn last line is skipped with a warning."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or a record cut off by a crash
    seen = (str(path.resolve()), len(lines), len(torn))
    if torn.strip() and seen not in _TORN_TAILS_SAID:  # one search reads a file several times: say it once
        _TORN_TAILS_SAID.add(seen)
        logger.warning("%s: ignoring an incomplete last line (%d bytes) left by an interrupted write", path, len(torn))
    return lines


class DurableAppender:
    """Appends whole lines to a file, each flushed and fsynced before returning."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._checked_tail = False

    def append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._checked_tail:
            self._drop_torn_tail()
            self._checked_tail = True
        created = not self.path.exists()
        with open(self.path, "ab") as f:
            f.write(line if line.endswith(b"\n") else line + b"\n")
            f.flush()
            os.fsync(f.fileno())
        if created:  # the new file's directory entry must survive a power loss too
            fsync_dir(self.path.parent)

    def _drop_torn_tail(self) -> None:
        """Cut an incomplete last line (never a complete record)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data.endswith(b"\n"):
                return
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())


class Journal:
    """One JSON object per line (the Basic NAS results log)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._appender = DurableAppender(self.path)

    def read(self) -> list[dict[str, Any]]:
        """Every complete record; a corrupt complete line is an error naming the file and line."""
        records = []
        for number, line in enumerate(read_complete_lines(self.path), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ResultsFileError(
                    f"{self.path}:{number}",
                    line[:80].decode(errors="replace"),
                    "a JSON object (one results record per line)",
                    str(err),
                ) from err
            if not isinstance(record, dict):
                raise ResultsFileError(f"{self.path}:{number}", record, "a JSON object (one results record per line)")
            records.append(record)
        return records

    def append(self, record: dict[str, Any]) -> None:
        self._appender.append(json.dumps(record, sort_keys=True, allow_nan=False).encode())


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a whole file so readers see either the old or the new content, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a created or renamed file) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the file itself is already fsynced
        pass
    finally:
        os.close(fd)


def timestamp() -> str:
    """The time of a record, as written beside it."""
    return datetime.datetime.now().isoformat(timespec="seconds")
