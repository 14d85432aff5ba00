"""Drop-in for the reference's ``PyTorchDataLoader``: a ``torch.utils.data.DataLoader`` with its arguments."""

from __future__ import annotations

from typing import Any

import torch

from neural_nas.errors import ConfigError

LAST_BATCH = {"rollover": False, "discard": True}  # the reference's names for drop_last


class PyTorchDataLoader(torch.utils.data.DataLoader):
    """``PyTorchDataLoader(dataset, batch_size=1, last_batch="rollover", collate_fn=None, sampler=None,
    batch_sampler=None, num_workers=0, pin_memory=False, shuffle=False, distributed=False)``.

    ``distributed=True`` (the reference's Horovod sharding) is not supported: shard with a sampler, e.g.
    ``torch.utils.data.distributed.DistributedSampler``.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        last_batch: str = "rollover",
        collate_fn: Any = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        shuffle: bool = False,
        distributed: bool = False,
    ) -> None:
        if last_batch not in LAST_BATCH:
            raise ConfigError("last_batch", last_batch, "'rollover' (keep a short last batch) or 'discard'")
        if distributed:
            raise ConfigError(
                "distributed",
                distributed,
                "False",
                "shard with a sampler (torch.utils.data.distributed.DistributedSampler)",
            )
        if len(dataset) == 0:
            raise ConfigError("dataset", dataset, "a dataset with at least one sample")
        self.last_batch = last_batch
        kwargs: dict[str, Any] = {"collate_fn": collate_fn, "num_workers": num_workers, "pin_memory": pin_memory}
        if batch_sampler is not None:
            super().__init__(dataset, batch_sampler=batch_sampler, **kwargs)
        else:
            super().__init__(
                dataset,
                batch_size=batch_size,
                shuffle=shuffle,
                sampler=sampler,
                drop_last=LAST_BATCH[last_batch],
                **kwargs,
            )


__all__ = ["PyTorchDataLoader"]
