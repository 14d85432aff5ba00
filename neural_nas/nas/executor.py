"""Measuring a batch of architectures: in this process, or split across the ranks of a distributed search.

What is measured is opaque here: an architecture dict, or anything its ``measure_one`` takes. The protocol between
ranks (``nas.dynas.distributed`` under torchrun) is three typed messages. The driver (rank 0)
broadcasts a `Round` of up to ``world_size`` architectures; rank ``r`` measures the ``r``-th and the driver gathers one
`Outcome` per rank (plain data), writes them in order, then sends the next round. When the search ends the driver
broadcasts `Stop`, with the search's result or ``failed=True``; every rank returns (or raises) then. A round is the
unit of durability: a crash loses at most the measurements in flight.

An outcome is `Measured`, `Stopped` (its validation stopped by racing: `neural_nas.measurements.racing`), `Failed`
(the architecture's own failure: recorded under ``on_error: skip``) or `Crashed` (any other error on that rank: a
set-up error, a library bug). Every rank answers every round, even after an error,
so the ranks never wait in different collectives; the driver raises a crash once the round's other outcomes are on
disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from neural_nas.errors import MeasurementError
from neural_nas.measurements.racing import Stopped


@dataclass(frozen=True)
class Measured:
    metrics: dict[str, float]
    params: int | None = None  # the model's parameter count, where the measurement built the model (Basic NAS)


@dataclass(frozen=True)
class Failed:
    reason: str
    # The error itself, kept by the rank that raised it (its traceback is worth keeping); never sent to another rank.
    error: MeasurementError | None = field(default=None, compare=False)

    def portable(self) -> Failed:
        return Failed(self.reason)


@dataclass(frozen=True)
class Crashed:
    rank: int
    reason: str
    # As for `Failed`: the exception stays on the rank that raised it.
    error: Exception | None = field(default=None, compare=False)

    def portable(self) -> Crashed:
        return Crashed(self.rank, self.reason)


Outcome = Measured | Stopped | Failed | Crashed


@dataclass(frozen=True)
class Round:
    items: Sequence[Any]  # one architecture per rank, fewer in the last round


@dataclass(frozen=True)
class Stop:
    result: Any = None  # what `search()` returns on every rank
    failed: bool = False  # the driver stopped with an error (its log says which)


class Executor:
    """Measures batches with ``measure_one(item) -> Outcome`` on every rank of ``ranks`` (a `Ranks`)."""

    def __init__(self, ranks: Any, measure_one: Callable[[Any], Outcome]) -> None:
        self.ranks = ranks
        self.measure_one = measure_one

    @property
    def is_driver(self) -> bool:
        return self.ranks.is_driver

    @property
    def world_size(self) -> int:
        """Items per round: one per rank."""
        return self.ranks.world_size

    def _measure(self, item: Any) -> Outcome:
        try:
            return self.measure_one(item)
        except Exception as err:  # answered as an outcome, so that this round still completes on every rank
            return Crashed(self.ranks.rank, f"{type(err).__name__}: {err}", err)

    def rounds(self, items: Sequence[Any]) -> Iterator[list[tuple[Any, Outcome]]]:
        """Driver: measure ``items``, one round at a time; each round's ``(item, outcome)`` pairs, in order."""
        for start in range(0, len(items), self.ranks.world_size):
            batch = items[start : start + self.ranks.world_size]
            self.ranks.broadcast(Round(batch))
            own = self._measure(batch[0])
            outcomes = self.ranks.gather(_portable(own))
            outcomes[0] = own
            yield list(zip(batch, outcomes[: len(batch)]))

    def stop(self, result: Any = None, *, failed: bool = False) -> Any:
        """Driver: release the other ranks with the search's result (or its failure); returns ``result``."""
        return self.ranks.broadcast(Stop(result, failed)).result

    def serve(self) -> Any:
        """Another rank: measure this rank's share of every round, until the driver stops; returns its result."""
        while True:
            message = self.ranks.broadcast()
            if isinstance(message, Stop):
                break
            if not isinstance(message, Round):
                raise RuntimeError(f"rank {self.ranks.rank}: unexpected message from the driver: {message!r}")
            mine = message.items[self.ranks.rank] if self.ranks.rank < len(message.items) else None
            self.ranks.gather(None if mine is None else _portable(self._measure(mine)))
        if message.failed:
            raise RuntimeError(f"rank {self.ranks.rank}: the driver (rank 0) stopped with an error; see its log")
        return message.result


def _portable(outcome: Outcome) -> Outcome:
    """What crosses to another rank: plain data, no exception objects."""
    return outcome if isinstance(outcome, (Measured, Stopped)) else outcome.portable()
