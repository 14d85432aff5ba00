"""Basic NAS: the user's search space and model builder, measured by training and evaluating each candidate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from neural_nas.config import NASConfig, load_config
from neural_nas.config.schema import BY_PATH
from neural_nas.errors import ConfigError
from neural_nas.nas.base import NASBase, nas_registry

logger = logging.getLogger("neural_nas")


@nas_registry("basic")
class BasicNAS(NASBase):
    """``BasicNAS(conf, search_space=None, model_builder=None)``; `estimate(model)` is ``train_func(model)`` then
    ``eval_func(model)``. Without functions, they are built from the config's ``train:`` / ``evaluation:`` sections."""

    attribute_column = "basic"  # the reference's Component attributes that swap pieces of the built-in train/eval
    title = "Basic NAS"

    def __init__(
        self,
        conf_fname_or_obj: str | NASConfig,
        search_space: Mapping[str, Sequence[Any]] | None = None,
        model_builder: Callable[[dict], Any] | None = None,
    ) -> None:
        super().__init__(search_space=search_space, model_builder=model_builder)
        self.conf = load_config(conf_fname_or_obj)
        self._train_func: Callable[[Any], Any] | None = None
        self._eval_func: Callable[[Any], Any] | None = None
        for key in (k for k in BY_PATH if k.startswith("nas.dynas.") and self.conf.changed(k)):
            logger.warning("%s has no effect in Basic NAS (Dynamic NAS reads it; nas.approach: dynas)", key)

    @property
    def train_func(self) -> Callable[[Any], Any] | None:
        return self._train_func

    @train_func.setter
    def train_func(self, func: Callable[[Any], Any]) -> None:
        self._train_func = _callable("train_func", func)

    @property
    def eval_func(self) -> Callable[[Any], Any] | None:
        return self._eval_func

    @eval_func.setter
    def eval_func(self, func: Callable[[Any], Any]) -> None:
        self._eval_func = _callable("eval_func", func)

    def estimate(self, model: Any) -> Any:
        if self._train_func is not None:
            self._train_func(model)
        return self._eval_func(model)

    def validate(self) -> None:
        """The base checks, then the ``train:`` and ``evaluation:`` sections when no function replaces them (they are
        built here, once, so every key in them is checked)."""
        super().validate()
        self._device()
        if self._train_func is None and self.conf.get("train") is not None:
            from neural_nas.training import build_train_func

            self._train_func = build_train_func(
                self.conf.get("train"), device=self._device(), seed=self.conf.nas.search.seed
            )
        if self._eval_func is None and self.conf.get("evaluation") is not None:
            from neural_nas.training import build_eval_func

            self._eval_func = build_eval_func(self.conf.get("evaluation"), device=self._device())

    def measurer(self) -> Any:
        """Require an evaluation (a function or the config's section, built by `validate`) before any trial runs."""
        if self._eval_func is None:
            raise ConfigError(
                "eval_func",
                None,
                "a function model -> metrics (set agent.eval_func) or an `evaluation:` section in the config",
            )
        if self._train_func is None:
            logger.info("no train_func and no `train:` section: each model is evaluated as built")
        return super().measurer()

    def _device(self) -> str:
        device = self.conf.get("device") or "cpu"
        if device not in ("cpu", "gpu", "cuda"):
            raise ConfigError("device", device, "'cpu' or 'gpu'")
        return "cpu" if device == "cpu" else "cuda"

    def __call__(self) -> list[dict[str, Any]]:
        """The reference's entry point for the built-in train/eval flow: same as `search()`."""
        return self.search()


def _callable(name: str, func: Any) -> Callable[[Any], Any]:
    if not callable(func):
        raise ConfigError(name, func, "a callable that takes the model")
    return func
