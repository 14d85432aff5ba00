"""The library's logger, and a way to read results quietly (a check that replays a file is not a resume)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

logger = logging.getLogger("neural_nas")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Only warnings and errors of the library while the block runs (its info lines would describe a resume)."""
    previous = logger.level
    logger.setLevel(max(previous, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(previous)
