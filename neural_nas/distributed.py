"""Ranks of a distributed search (``nas.dynas.distributed: true`` under ``torchrun``), on torch.distributed.

Rank 0 drives: it owns the results file, the predictors and the evolutionary search. Every rank, rank 0 included,
measures its share of each batch: the driver broadcasts a round of up to ``world_size`` sub-networks, rank ``r``
measures the ``r``-th, and the driver gathers the outcomes and writes them in order, before the next round. A
round is the unit of durability: a crash loses at most the measurements in flight. Without a launcher (no
``WORLD_SIZE`` in the environment) the search runs in this one process.

Launchers: ``torchrun`` sets torch's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``).
Open MPI's ``mpirun`` sets ``OMPI_COMM_WORLD_RANK``/``SIZE``/``LOCAL_RANK``/``LOCAL_SIZE`` instead (the reference's
distributed notebook uses it), MPICH and Intel MPI ``PMI_RANK``/``PMI_SIZE``: they are read (the environment is left
as it is). On one machine the rendezvous defaults to 127.0.0.1:29500; across machines set ``MASTER_ADDR`` (and
``MASTER_PORT``), e.g. ``mpirun -x MASTER_ADDR=node0 ...``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neural_nas.errors import ConfigError

logger = logging.getLogger("neural_nas")

# (rank, size, local rank, local size) as each MPI launcher names them: Open MPI, then MPICH / Intel MPI (Hydra).
_MPI_LAUNCHERS = {
    "Open MPI": (
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
    ),
    "MPICH": ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
}


@dataclass(frozen=True)
class Launch:
    """Where this process stands in a launched job. ``init_method`` None: torch reads torchrun's variables."""

    launcher: str
    rank: int
    world_size: int
    local_rank: int
    init_method: str | None = None


def launch_of(environ: Mapping[str, str]) -> Launch | None:
    """This process's place in a job started by torchrun or an MPI launcher (None: not launched). Nothing is
    written to the environment: other code in the process sees it as the launcher left it."""
    if "WORLD_SIZE" in environ:  # torchrun (or a user who set torch's variables)
        return Launch(
            "torchrun", int(environ.get("RANK", "0")), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", "0"))
        )
    for launcher, (rank, size, local_rank, local_size) in _MPI_LAUNCHERS.items():
        if size not in environ:
            continue
        world = int(environ[size])
        address = environ.get("MASTER_ADDR")
        if address is None:
            if int(environ.get(local_size, world)) != world:
                raise ConfigError(
                    "MASTER_ADDR",
                    None,
                    "the address of the machine of rank 0 (the ranks run on several machines)",
                    "pass it to every rank, e.g. mpirun -x MASTER_ADDR=<host of rank 0> -x MASTER_PORT=29500 ...",
                )
            address = "127.0.0.1"
        init = f"tcp://{address}:{environ.get('MASTER_PORT', '29500')}"
        return Launch(launcher, int(environ.get(rank, "0")), world, int(environ.get(local_rank, "0")), init)
    return None


class Ranks:
    def __init__(self, enabled: bool) -> None:
        self.rank, self.world_size = 0, 1
        self._dist: Any = None
        self._owns_group = False
        if not enabled:
            return
        launch = launch_of(os.environ)
        if launch is None or launch.world_size <= 1:
            logger.warning(
                "nas.dynas.distributed is true but %s: searching in this one process",
                "this process was not started by torchrun or mpirun" if launch is None else "the job has one process",
            )
            return
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            # gloo on CPU, NCCL on GPU; under torchrun the rendezvous comes from its environment variables.
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if launch.init_method is None:
                dist.init_process_group(backend=backend)
            else:
                dist.init_process_group(
                    backend=backend, init_method=launch.init_method, rank=launch.rank, world_size=launch.world_size
                )
            self._owns_group = True
            if torch.cuda.is_available():
                torch.cuda.set_device(launch.local_rank)
        self._dist = dist
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        logger.info("distributed search (%s): rank %d of %d", launch.launcher, self.rank, self.world_size)

    def close(self) -> None:
        """Tear down the process group if this object created it (left to exit, gloo can abort the process)."""
        if self._owns_group:
            self._dist.destroy_process_group()
            self._owns_group = False

    @property
    def is_driver(self) -> bool:
        return self.rank == 0

    def broadcast(self, obj: Any = None) -> Any:
        """The driver's ``obj`` on every rank."""
        if self._dist is None:
            return obj
        box = [obj]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj``, in rank order, on the driver (None elsewhere)."""
        if self._dist is None:
            return [obj]
        out = [None] * self.world_size if self.is_driver else None
        self._dist.gather_object(obj, out, dst=0)
        return out
