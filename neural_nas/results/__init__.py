"""Results on disk: the append-only log, and reports derived from it."""

from neural_nas.results.journal import Journal, write_atomic

__all__ = ["Journal", "write_atomic"]
