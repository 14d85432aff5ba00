"""Constraint objects: each checks a value and describes what it allows, so the check and the message share a source."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from neural_nas.errors import ConfigError


class Constraint:
    """``is_satisfied_by(value)`` plus a ``str()`` that completes the sentence "<key> must be ..."."""

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError

    def validate(self, key: str, value: Any) -> None:
        """Raise ConfigError for a bad value; constraints with nested structure override this to name the inner key."""
        if not self.is_satisfied_by(value):
            raise ConfigError(key, value, str(self))

    def invalid_example(self) -> Any:
        """A value this constraint rejects (drives the table-driven bad-config tests)."""
        return object()


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Interval(Constraint):
    """An int (``kind=int``) or a real number in a range; ``closed`` is 'both', 'left', 'right' or 'neither'."""

    def __init__(self, kind: type, low: float | None, high: float | None, closed: str = "both") -> None:
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if not (_is_int(value) if self.kind is int else _is_real(value)) or (_is_real(value) and math.isnan(value)):
            return False
        low_open = self.closed in ("right", "neither")
        high_open = self.closed in ("left", "neither")
        if self.low is not None and (value < self.low or (value == self.low and low_open)):
            return False
        return self.high is None or not (value > self.high or (value == self.high and high_open))

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{'an int' if self.kind is int else 'a number'} in the range {left}{low}, {high}{right}"

    def invalid_example(self) -> Any:
        if self.low is not None:
            return self.kind(self.low) - 1 if self.closed in ("both", "left") else self.kind(self.low)
        return "not-a-number"


class Boolean(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "true or false"

    def invalid_example(self) -> Any:
        return "yes"


class String(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str)

    def __str__(self) -> str:
        return "a string"

    def invalid_example(self) -> Any:
        return 3


class OneOf(Constraint):
    """One of a fixed set of strings (compared exactly)."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def invalid_example(self) -> Any:
        return "not-" + self.choices[0]


class ListOf(Constraint):
    """A list (or tuple) of ``min_len`` (default 1) to ``max_len`` items, each satisfying ``item``."""

    def __init__(self, item: Constraint, min_len: int = 1, max_len: int | None = None) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)):
            return False
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            return False
        return all(self.item.is_satisfied_by(v) for v in value)

    def __str__(self) -> str:
        if self.min_len == 0 and self.max_len is None:
            return f"a list of items, each {self.item}"
        size = f"at least {self.min_len}" if self.max_len is None else f"{self.min_len} to {self.max_len}"
        size = str(self.min_len) if self.max_len == self.min_len else size
        return f"a list of {size} items, each {self.item}"

    def validate(self, key: str, value: Any) -> None:
        if not self.is_satisfied_by(value):
            if isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if not self.item.is_satisfied_by(v):
                        raise ConfigError(f"{key}[{i}]", v, str(self.item))
            raise ConfigError(key, value, str(self))

    def invalid_example(self) -> Any:
        return [] if self.min_len > 0 else "not a list"


class SearchSpaceMapping(Constraint):
    """``{name: [choice, ...]}``: a non-empty mapping from string names to non-empty lists or tuples of choices (what
    `neural_nas.config.search_space.SearchSpace` is built from)."""

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            self.validate("search_space", value)
        except ConfigError:
            return False
        return True

    def validate(self, key: str, value: Any) -> None:
        if not isinstance(value, Mapping) or not value:
            raise ConfigError(key, value, str(self))
        for name, choices in value.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(
                    key, name, "a mapping whose keys are non-empty strings (architecture parameter names)"
                )
            if not isinstance(choices, (list, tuple)) or len(choices) == 0:
                raise ConfigError(f"{key}.{name}", choices, "a non-empty list of choices")
            if len({repr(c) for c in choices}) != len(choices):
                raise ConfigError(f"{key}.{name}", choices, "a list of distinct choices")

    def __str__(self) -> str:
        return "a non-empty mapping {name: [choice, ...]} with a non-empty list of distinct choices per name"

    def invalid_example(self) -> Any:
        return {"channels": []}


class AnyOf(Constraint):
    """Satisfied when one of several constraints is; ``None`` in the list allows None."""

    def __init__(self, *options: Constraint | None) -> None:
        self.allow_none = None in options
        self.options = [o for o in options if o is not None]

    def is_satisfied_by(self, value: Any) -> bool:
        return (value is None and self.allow_none) or any(o.is_satisfied_by(value) for o in self.options)

    def validate(self, key: str, value: Any) -> None:
        if value is None and self.allow_none:
            return
        if len(self.options) == 1:
            self.options[0].validate(key, value)  # keeps the precise inner key in the message
        elif not self.is_satisfied_by(value):
            raise ConfigError(key, value, str(self))

    def __str__(self) -> str:
        parts = (["null"] if self.allow_none else []) + [str(o) for o in self.options]
        return " or ".join(parts)

    def invalid_example(self) -> Any:
        return self.options[0].invalid_example()
