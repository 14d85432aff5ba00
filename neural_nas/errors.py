"""One error family. Each subclass also inherits the builtin it refines, so `except ValueError` keeps working."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class NASError(Exception):
    """Root of every error raised on purpose by neural_nas."""


class ConfigError(NASError, ValueError):
    """A configuration, search space or other user input is invalid.

    The message names the key (a dotted path such as ``nas.dynas.population``), the value given and what is allowed.
    """

    def __init__(self, key: str, value: Any, allowed: str, hint: str = "") -> None:
        self.key, self.value, self.allowed, self.hint = key, value, allowed, hint
        message = f"{key} must be {allowed}; got {value!r}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class UnknownKeyError(ConfigError):
    """A configuration key that does not exist: the message says so first, with the closest known key, then lists the
    keys its section accepts (the value given is beside the point)."""

    def __init__(self, key: str, value: Any, accepted: str, suggestion: str = "") -> None:
        self.key, self.value, self.allowed, self.hint = key, value, accepted, suggestion
        ValueError.__init__(
            self, f"{key} is not a known key" + (f" ({suggestion})" if suggestion else "") + f"; {accepted}"
        )


class ResultsFileError(NASError, ValueError):
    """An earlier results file cannot be used: a corrupt line, an unknown column, or results of another search.

    The message names the file (and line), what was found and what to do; nothing in the file is changed.
    """

    def __init__(self, where: str, found: Any, expected: str, hint: str = "") -> None:
        self.where, self.found, self.expected, self.hint = where, found, expected, hint
        message = f"{where}: expected {expected}; found {found!r}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class DataError(NASError, ValueError):
    """A file of the data set cannot be read: the message names it (and the line or image) and what is wrong.

    It stops the search, also under ``on_error: skip``: a bad file is the data set's fault, never one
    sub-network's. Built from its message alone, so that a DataLoader worker's error arrives as a DataError too."""


class PredictorError(NASError, ValueError):
    """A metric predictor cannot be fitted (too few measurements of that metric so far)."""


class MeasurementError(NASError, RuntimeError):
    """Measuring one architecture failed; carries the architecture that caused it."""

    def __init__(self, arch: Any, reason: str) -> None:
        self.arch, self.reason = arch, reason
        super().__init__(f"measuring architecture {arch!r} failed: {reason}")


class TooManyFailuresError(MeasurementError):
    """With ``nas.search.on_error: skip``, too many measurements in a row failed: the search stops.

    ``arch`` is the last architecture that failed; ``failures`` holds ``(architecture, reason)`` of the failed run.
    """

    def __init__(self, failures: list[tuple[Any, str]], limit_key: str, record: str) -> None:
        self.failures = list(failures)
        last_arch, last_reason = failures[-1] if failures else (None, "")
        self.arch, self.reason = last_arch, last_reason
        message = (
            f"{len(failures)} measurements in a row failed ({limit_key} = {len(failures)}); stopping the search. "
            f"The last: measuring architecture {last_arch!r} failed: {last_reason}. "
            f"Every failure is recorded in {record}"
        )
        RuntimeError.__init__(self, message)


class ResultsLockedError(NASError, RuntimeError):
    """Another search (a live process) holds the lock of this results file."""

    def __init__(self, results_path: Any, lock_path: Any, holder: str = "") -> None:
        self.results_path, self.lock_path = results_path, lock_path
        who = f"process {holder}" if holder else "another process"
        super().__init__(
            f"the results file {str(results_path)!r} is in use by another search ({who} holds {str(lock_path)!r}); "
            "wait for it to finish or point this search at another results file"
        )


@contextmanager
def measuring(arch: Any) -> Iterator[None]:
    """Report any failure inside the block as a MeasurementError naming ``arch`` (our own errors pass unchanged)."""
    try:
        yield
    except NASError:
        raise
    except Exception as err:
        raise MeasurementError(arch, f"{type(err).__name__}: {err}") from err


class ExportError(NASError, RuntimeError):
    """An exported file does not do what the sub-network does (its parity check failed): the message names the file,
    what differs and what to do; the file is left for inspection and no model card claims it."""

    def __init__(self, path: Any, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(
            f"{path} {problem}; the file is kept for inspection and subnet.json is not written. Export another format "
            "(--format), or report the sub-network and the runtime's version"
        )
