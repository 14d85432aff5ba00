"""Drop-in import path of the reference: ``neural_nas.experimental.data`` (its data loaders and datasets)."""

from neural_nas.data import DATASETS, Datasets

__all__ = ["DATASETS", "Datasets"]
