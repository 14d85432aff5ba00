"""Optimizers and criteria named in `train.optimizer` / `train.criterion`, with the reference's key names.

An optimizer factory is ``factory(parameters, **settings) -> torch.optim.Optimizer``; a criterion factory is
``factory(**settings) -> torch.nn.Module``. A torch class can be registered directly
(``optimizer_registry.register("RMSprop", torch.optim.RMSprop)``); its own argument names are then the YAML keys.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from neural_nas._registry import Registry
from neural_nas.errors import ConfigError
from neural_nas.training._params import boolean, choice, declare, number, number_pair

optimizer_registry: Registry = Registry("optimizer", "train.optimizer")
criterion_registry: Registry = Registry("criterion", "train.criterion")


@optimizer_registry("SGD")
@declare(
    learning_rate=number(0.0, low_open=True),
    momentum=number(0.0, default=0.0),
    nesterov=boolean(default=False),
    weight_decay=number(0.0, default=0.0),
    dampening=number(0.0, default=0.0),
)
def sgd(
    parameters: Iterable[torch.nn.Parameter],
    learning_rate: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
) -> torch.optim.Optimizer:
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ConfigError("nesterov", nesterov, "false unless momentum > 0 and dampening is 0")
    return torch.optim.SGD(
        parameters,
        lr=learning_rate,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay,
        dampening=dampening,
    )


def _betas(betas: tuple[float, float] | None, beta_1: float | None, beta_2: float | None) -> tuple[float, float]:
    # The reference spelled them beta_1/beta_2; torch users write betas. Either, not both.
    if betas is not None and (beta_1 is not None or beta_2 is not None):
        raise ConfigError("betas", list(betas), "unset when beta_1 / beta_2 are given (use one spelling)")
    if betas is not None:
        return betas
    return (0.9 if beta_1 is None else beta_1, 0.999 if beta_2 is None else beta_2)


def _adam_params(weight_decay: float) -> dict:
    return dict(
        learning_rate=number(0.0, low_open=True, default=0.001),
        weight_decay=number(0.0, default=weight_decay),
        betas=number_pair(0.0, 1.0, default=None),
        beta_1=number(0.0, 1.0, high_open=True, default=None),
        beta_2=number(0.0, 1.0, high_open=True, default=None),
        epsilon=number(0.0, low_open=True, default=1e-8),
        amsgrad=boolean(default=False),
    )


@optimizer_registry("Adam")
@declare(**_adam_params(0.0))
def adam(
    parameters: Iterable[torch.nn.Parameter],
    learning_rate: float = 0.001,
    weight_decay: float = 0.0,
    betas: tuple[float, float] | None = None,
    beta_1: float | None = None,
    beta_2: float | None = None,
    epsilon: float = 1e-8,
    amsgrad: bool = False,
) -> torch.optim.Optimizer:
    return torch.optim.Adam(
        parameters,
        lr=learning_rate,
        betas=_betas(betas, beta_1, beta_2),
        eps=epsilon,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
    )


@optimizer_registry("AdamW")
@declare(**_adam_params(0.01))
def adamw(
    parameters: Iterable[torch.nn.Parameter],
    learning_rate: float = 0.001,
    weight_decay: float = 0.01,
    betas: tuple[float, float] | None = None,
    beta_1: float | None = None,
    beta_2: float | None = None,
    epsilon: float = 1e-8,
    amsgrad: bool = False,
) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        parameters,
        lr=learning_rate,
        betas=_betas(betas, beta_1, beta_2),
        eps=epsilon,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
    )


@criterion_registry("CrossEntropyLoss")
@declare(reduction=choice(("none", "mean", "sum"), default="mean"), label_smoothing=number(0.0, 1.0, default=0.0))
def cross_entropy(reduction: str = "mean", label_smoothing: float = 0.0) -> torch.nn.Module:
    """With ``reduction: none`` the per-sample losses are averaged before the backward pass."""
    return torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
