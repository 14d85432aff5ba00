"""Declared keyword parameters for the pieces of the `train:` / `evaluation:` sections, checked with full key paths.

Every configurable piece (a dataset, an optimizer, a criterion, a section) declares its keys as ``{name: Param}``;
``parse_section`` checks a YAML mapping against that table once, when the train/eval functions are built, so a typo
fails before any training starts. A user's factory without a table is checked against its signature instead.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from neural_nas._registry import Registry
from neural_nas.config.constraints import AnyOf, Boolean, Constraint, Interval, ListOf, OneOf
from neural_nas.errors import ConfigError

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    """One key: ``convert`` returns the value to use or raises TypeError/ValueError; ``allowed`` describes it."""

    allowed: str
    convert: Callable[[Any], Any]
    default: Any = REQUIRED


def declare(**params: Param) -> Callable[[Callable], Callable]:
    """Decorator attaching a parameter table to a factory (read back by ``spec_of``)."""

    def attach(factory: Callable) -> Callable:
        factory.params = params
        return factory

    return attach


def _same(value: Any) -> Any:
    return value


def _checked(constraint: Constraint, default: Any, before: Callable = _same, after: Callable = _same) -> Param:
    """A key checked and worded by ``constraint``; ``before`` reads the YAML value, ``after`` normalises it.

    A None default means "unset": None is then also accepted when written explicitly.
    """
    if default is None:
        constraint = AnyOf(None, constraint)

    def convert(value: Any) -> Any:
        value = before(value)
        if not constraint.is_satisfied_by(value):
            raise ValueError(value)
        return None if value is None else after(value)

    return Param(str(constraint), convert, default)


def _closed(low_open: bool, high_open: bool) -> str:
    return ("both", "left", "right", "neither")[2 * low_open + high_open]


def _yaml_float(value: Any) -> Any:
    return float(value) if isinstance(value, str) else value  # PyYAML reads `1e-3` (no dot) as a string


def integer(low: int | None = None, high: int | None = None, *, default: Any = REQUIRED) -> Param:
    return _checked(Interval(int, low, high, _closed(low is None, high is None)), default, after=int)


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    default: Any = REQUIRED,
) -> Param:
    # Unset bounds are infinite and open: a number must be finite.
    interval = Interval(
        float,
        -math.inf if low is None else low,
        math.inf if high is None else high,
        _closed(low_open or low is None, high_open or high is None),
    )
    return _checked(interval, default, _yaml_float, float)


def boolean(*, default: Any = REQUIRED) -> Param:
    return _checked(Boolean(), default)


def choice(options: Iterable[str], *, default: Any = REQUIRED) -> Param:
    """One of ``options`` (lower case), matched case-insensitively."""
    return _checked(OneOf(*options), default, lambda v: v.lower() if isinstance(v, str) else v)


def text(*, default: Any = REQUIRED, what: str = "a string") -> Param:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise TypeError(value)
        return value

    if default is None:
        return Param(f"null or {what}", lambda v: None if v is None else convert(v), default)
    return Param(what, convert, default)


def int_list(low: int = 1, *, min_len: int = 1, default: Any = REQUIRED) -> Param:
    return _checked(ListOf(Interval(int, low, None, "left"), min_len), default, after=lambda v: [int(i) for i in v])


def number_pair(low: float, high: float, *, default: Any = REQUIRED) -> Param:
    def before(value: Any) -> Any:
        return [_yaml_float(v) for v in value] if isinstance(value, (list, tuple)) else value

    return _checked(
        ListOf(Interval(float, low, high, "left"), 2, 2), default, before, lambda v: tuple(float(i) for i in v)
    )


def mapping(*, default: Any = REQUIRED, what: str = "a mapping") -> Param:
    """A nested section, checked later by its own table; null reads as an empty mapping."""

    def convert(value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise TypeError(value)
        return value

    return Param(what, convert, default)


def anything(*, default: Any = REQUIRED) -> Param:
    return Param("any value", lambda v: v, default)


def spec_of(factory: Callable, *, skip: int = 0) -> tuple[dict[str, Param], bool]:
    """The factory's parameter table, and whether it accepts extra keys (``**kwargs``).

    Without a declared table (a user's factory, or a torch class registered directly) the keyword parameters of the
    signature are used: any value, required when they have no default. ``skip`` leading positionals are not config keys
    (an optimizer factory's model parameters).
    """
    declared = getattr(factory, "params", None)
    if isinstance(declared, Mapping):
        return dict(declared), False
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}, True
    table, open_keys = {}, False
    for param in list(signature.parameters.values())[skip:]:
        if param.kind is param.VAR_KEYWORD:
            open_keys = True
        elif param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            table[param.name] = anything(default=param.default)
    return table, open_keys


# torch spellings of the reference's keys, too short for difflib to match.
_SYNONYMS = {"lr": "learning_rate", "eps": "epsilon", "epochs": "epoch", "top_k": "topk", "k": "topk"}


def did_you_mean(name: Any, known: Iterable[str]) -> str:
    known = list(known)
    if _SYNONYMS.get(str(name).lower()) in known:
        return f"did you mean {_SYNONYMS[str(name).lower()]!r}?"
    close = difflib.get_close_matches(str(name), known, n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def parse_section(section: Any, table: Mapping[str, Param], path: str, *, open_keys: bool = False) -> dict[str, Any]:
    """Check ``section`` against ``table``; return every declared key (defaults filled in) plus any open extras."""
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(path, section, f"a mapping with keys from: {', '.join(table) or '(none)'}")
    unknown = [k for k in section if k not in table]
    if unknown and not open_keys:
        key = unknown[0]
        raise ConfigError(
            f"{path}.{key}", key, f"a known key (one of: {', '.join(table) or '(none)'})", did_you_mean(key, table)
        )
    values: dict[str, Any] = {k: section[k] for k in unknown}
    for key, param in table.items():
        if key not in section:
            if param.default is REQUIRED:
                raise ConfigError(f"{path}.{key}", None, f"set ({param.allowed}); it is required")
            values[key] = param.default
            continue
        try:
            values[key] = param.convert(section[key])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}.{key}", section[key], param.allowed) from err
    return values


def single_entry(section: Any, path: str, registry: Registry) -> tuple[str, Any]:
    """``{Name: {kwargs}}`` (or a bare ``Name``) -> (name, kwargs); the name is checked against the registry."""
    if isinstance(section, str):
        name, kwargs = section, {}
    elif isinstance(section, Mapping) and len(section) == 1:
        name, kwargs = next(iter(section.items()))
    else:
        raise ConfigError(
            path,
            section,
            f"a mapping with exactly one {registry.kind} name (one of: {', '.join(registry.names())}) and its settings",
        )
    if name not in registry:
        raise ConfigError(
            path,
            name,
            f"one of the registered {registry.kind}s: {', '.join(registry.names())}",
            did_you_mean(str(name).lower(), registry.names()),
        )
    return name, kwargs


def build_entry(registry: Registry, name: str, kwargs: Any, path: str, *args: Any) -> Any:
    """Check ``kwargs`` against the entry's table and call it; its own errors come back under ``path``."""
    return call_checked(checked_factory(registry, name, kwargs, path, skip=len(args)), path, *args)


def checked_factory(registry: Registry, name: str, kwargs: Any, path: str, *, skip: int = 0) -> functools.partial:
    """The entry with its checked settings bound; call it with the ``skip`` leading positionals."""
    factory = registry.get(name)
    table, open_keys = spec_of(factory, skip=skip)
    values = parse_section(kwargs, table, path, open_keys=open_keys)
    partial = functools.partial(factory, **values)
    partial.kind, partial.entry = registry.kind, name
    return partial


def call_checked(factory: functools.partial, path: str, *args: Any) -> Any:
    """Call a ``checked_factory`` result, reporting a rejection of its settings as a ConfigError under ``path``."""
    try:
        return factory(*args)
    except ConfigError as err:
        # Factories raise cross-field errors with their own key ("high"); put the full path in front.
        raise ConfigError(f"{path}.{err.key}", err.value, err.allowed, err.hint) from err
    except (TypeError, ValueError, OSError) as err:
        raise ConfigError(
            path, dict(factory.keywords), f"settings the {factory.kind} {factory.entry!r} accepts", str(err)
        ) from err
