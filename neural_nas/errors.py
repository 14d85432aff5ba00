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


class MeasurementError(NASError, RuntimeError):
    """Measuring one architecture failed; carries the architecture that caused it."""

    def __init__(self, arch: Any, reason: str) -> None:
        self.arch = arch
        super().__init__(f"measuring architecture {arch!r} failed: {reason}")


@contextmanager
def measuring(arch: Any) -> Iterator[None]:
    """Report any failure inside the block as a MeasurementError naming ``arch`` (our own errors pass unchanged)."""
    try:
        yield
    except NASError:
        raise
    except Exception as err:
        raise MeasurementError(arch, f"{type(err).__name__}: {err}") from err


class ExperimentalWarning(UserWarning):
    """A feature whose interface may still change."""
