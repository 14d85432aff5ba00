"""What this machine can run: the CPUs this process may use, and worker counts capped to them."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("neural_nas")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one: containers and batch schedulers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cap_workers(requested: int, key: str) -> int:
    """``requested`` data-loader workers, at most one per available CPU (more only compete with the forward passes,
    and torch warns that they may freeze the machine); a note says when the setting is lowered."""
    cpus = available_cpus()
    if requested > cpus:
        logger.info("%s is %d but this machine has %d CPU(s): using %d worker(s)", key, requested, cpus, cpus)
        return cpus
    return requested
