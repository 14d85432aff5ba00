"""The reference's agent attributes, declared once: which config key each one reads and writes, and which an
approach refuses, with what to do instead.

The reference kept settings as plain attributes that its search read (``agent.num_evals = 10``); scripts still set
them. Here each one is either a `Setting` (a property over a config key, checked like any assignment and used by the
next `search`) or `Refused` (assigning it is a ConfigError; none is silently ignored). An approach names its column
(``attribute_column``) and `install` makes the properties when the class is created. Attributes whose reading needs
more than the config value (a resolved default, the recorded metrics) are written in the class itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neural_nas.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """Reads ``key`` from the agent's config; assigning goes through ``agent.configure(key, value)``."""

    key: str


@dataclass(frozen=True)
class Refused:
    """The approach does not take the attribute: assigning it raises a ConfigError (reading gives what a base class
    says, else None)."""

    hint: str


@dataclass(frozen=True)
class RefusedCall:
    """A method of the reference the approach has no use for: calling it raises a ConfigError."""

    hint: str


_NOT_DYNAS = "sub-networks are extracted from the super-network; it is for Basic NAS (nas.approach: basic)"
_DYNAS_SETTINGS = (
    "num_evals",
    "dataset_path",
    "batch_size",
    "eval_batch_size",
    "supernet_ckpt_path",
    "num_workers",
    "distributed",
    "test_fraction",
)

# attribute -> {approach column: Setting | Refused}. A column that does not name an attribute leaves it to the class.
Entry = Setting | Refused | RefusedCall
TABLE: dict[str, dict[str, Entry]] = {
    "select_model_arch": {
        "dynas": RefusedCall("its search tactic (nas.dynas.search_tactic) proposes sub-networks inside search()")
    },
    "search_space": {
        "dynas": Refused(
            "the search space is the super-network's genes; choose another with nas.dynas.supernet, or register "
            "your own (docs/dynamic_nas.md)"
        )
    },
    "model_builder": {"dynas": Refused(_NOT_DYNAS)},
    "max_trials": {"dynas": Refused("its budget is nas.dynas.num_evals (agent.conf.dynas.num_evals)")},
    "higher_is_better": {
        "dynas": Refused("each metric declares its direction (neural_nas.measurements.metric_registry)")
    },
    "train_func": {"dynas": Refused("its super-network is trained already")},
    "eval_func": {
        "dynas": Refused(
            "sub-networks are measured by the super-network's metrics; register your own (docs/extending.md)"
        )
    },
    "train_dataloader": {"basic": Refused("give a train_func that uses it, or a train.dataloader section")},
    "eval_dataloader": {
        "basic": Refused("give an eval_func that uses it, or an evaluation.accuracy.dataloader section")
    },
    "metric": {"basic": Refused("give an eval_func, or set evaluation.accuracy.metric (topk)")},
    **{name: {"dynas": Setting(f"nas.dynas.{name}")} for name in _DYNAS_SETTINGS},
}


def install(cls: type, column: str) -> None:
    """Give ``cls`` a property for every attribute of ``column`` in `TABLE`."""
    for name, by_column in TABLE.items():
        entry = by_column.get(column)
        if entry is not None:
            setattr(cls, name, _property(name, entry, getattr(cls, "title", cls.__name__), getattr(cls, name, None)))


def _property(name: str, entry: Entry, approach: str, inherited: Any) -> Any:
    if isinstance(entry, RefusedCall):

        def refused_call(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise ConfigError(name, "called", f"not called on a {approach} agent", entry.hint)

        return refused_call
    if isinstance(entry, Setting):

        def get(self: Any) -> Any:
            return self.conf.get(entry.key)

        def set_(self: Any, value: Any) -> None:
            self.configure(entry.key, value)

        return property(get, set_, doc=f"``{entry.key}`` (the reference's agent attribute): used by the next search.")

    def refuse(self: Any, value: Any) -> None:
        shown = value if value is None or isinstance(value, (str, int, float, bool, list, dict)) else type(value)
        raise ConfigError(name, getattr(shown, "__name__", shown), f"unset for {approach}", entry.hint)

    # Reading what a base class tells (the recorded directions, say) still works: only setting it is refused.
    get = inherited.fget if isinstance(inherited, property) else lambda self: None
    return property(get, refuse, doc=f"Not set on {approach}: {entry.hint}.")
