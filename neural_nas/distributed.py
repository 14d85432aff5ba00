"""Ranks of a distributed search (``nas.dynas.distributed: true`` under ``torchrun``), on torch.distributed.

Rank 0 drives: it owns the results file, the predictors and the evolutionary search. Every rank, rank 0 included,
measures its share of each batch: the driver broadcasts a round of up to ``world_size`` sub-networks, rank ``r``
measures the ``r``-th, and the driver gathers the outcomes and writes them in order, before the next round. A
round is the unit of durability: a crash loses at most the measurements in flight. Without a launcher (no
``WORLD_SIZE`` in the environment) the search runs in this one process.

Launchers: ``torchrun`` sets torch's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``).
Open MPI's ``mpirun`` sets ``OMPI_COMM_WORLD_RANK``/``SIZE``/``LOCAL_RANK``/``LOCAL_SIZE`` instead (the reference's
distributed notebook uses it): they are translated to torch's names. On one machine the rendezvous defaults to
127.0.0.1:29500; across machines set ``MASTER_ADDR`` (and ``MASTER_PORT``), e.g. ``mpirun -x MASTER_ADDR=node0 ...``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from neural_nas.errors import ConfigError

logger = logging.getLogger("neural_nas")

_OPEN_MPI = {
    "RANK": "OMPI_COMM_WORLD_RANK",
    "WORLD_SIZE": "OMPI_COMM_WORLD_SIZE",
    "LOCAL_RANK": "OMPI_COMM_WORLD_LOCAL_RANK",
}


def adopt_mpirun_environment(environ: Any = os.environ) -> bool:
    """Under Open MPI's mpirun (and not torchrun): set torch.distributed's variables from Open MPI's; True if done."""
    if "WORLD_SIZE" in environ or "OMPI_COMM_WORLD_SIZE" not in environ:
        return False
    for torch_name, mpi_name in _OPEN_MPI.items():
        environ[torch_name] = environ[mpi_name]
    if "MASTER_ADDR" not in environ:
        if environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", environ["WORLD_SIZE"]) != environ["WORLD_SIZE"]:
            raise ConfigError(
                "MASTER_ADDR",
                None,
                "the address of the machine of rank 0 (the ranks run on several machines)",
                "pass it to every rank: mpirun -x MASTER_ADDR=<host of rank 0> -x MASTER_PORT=29500 ...",
            )
        environ["MASTER_ADDR"] = "127.0.0.1"
    environ.setdefault("MASTER_PORT", "29500")
    return True


class Ranks:
    def __init__(self, enabled: bool) -> None:
        self.rank, self.world_size = 0, 1
        self._dist: Any = None
        self._owns_group = False
        if not enabled:
            return
        if adopt_mpirun_environment():
            logger.info("launched by mpirun: rank %s of %s", os.environ["RANK"], os.environ["WORLD_SIZE"])
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            logger.warning(
                "nas.dynas.distributed is true but WORLD_SIZE is not set (not under torchrun or mpirun): "
                "searching in this one process"
            )
            return
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            # gloo on CPU, NCCL on GPU; rendezvous details come from torchrun's environment variables.
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
            self._owns_group = True
            if torch.cuda.is_available():
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        self._dist = dist
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        logger.info("distributed search: rank %d of %d", self.rank, self.world_size)

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
