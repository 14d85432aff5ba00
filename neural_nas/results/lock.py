"""One search per results file: an exclusive `fcntl.flock` on ``<results file>.lock``, held for the whole search.

The operating system releases the lock when the process exits, however it exits (``kill -9`` included), so a lock
file left behind never blocks the next search: only a live process holding the lock does. The lock file itself is
left in place on purpose (deleting it would let two processes lock two different files of the same name); it holds
the process id of the last holder, for the error message.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from neural_nas.errors import ResultsLockedError

try:  # POSIX; elsewhere searches run unlocked (documented in docs/reliability.md)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def lock_path(results_path: str | os.PathLike) -> Path:
    results_path = Path(results_path)
    return results_path.with_name(results_path.name + ".lock")


class ResultsLock:
    """``with ResultsLock(path):`` holds ``<path>.lock``; a second holder gets `ResultsLockedError` at once."""

    def __init__(self, results_path: str | os.PathLike) -> None:
        self.results_path = Path(results_path)
        self.path = lock_path(results_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None or fcntl is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            raise ResultsLockedError(self.results_path, self.path, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ResultsLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
