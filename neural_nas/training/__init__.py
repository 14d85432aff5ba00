"""Built-in ``train_func`` / ``eval_func`` for Basic NAS, from the YAML `train:` and `evaluation:` sections.

Importing this package imports torch; ``neural_nas`` imports it only when built-in training is needed.
"""

from neural_nas.training.datasets import dataset_registry
from neural_nas.training.loops import build_eval_func, build_train_func
from neural_nas.training.optim import criterion_registry, optimizer_registry

__all__ = ["build_eval_func", "build_train_func", "criterion_registry", "dataset_registry", "optimizer_registry"]
