"""One registry class; every pluggable kind (approaches, searchers, super-networks, ...) is an instance of it."""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from neural_nas.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Case-insensitive name -> object table, filled with a decorator.

    ``key`` is the config key users set to pick an entry (``nas.approach``): it names the key in lookup errors.
    """

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def __call__(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator: ``@registry("name")`` stores the decorated object under ``name.lower()``."""

        def register(obj: T) -> T:
            self.register(name, obj, aliases=aliases)
            return obj

        return register

    def register(self, name: str, obj: T, *, aliases: tuple[str, ...] = ()) -> None:
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"a {self.kind} must be registered under a non-empty string, not {name!r}")
        key = name.strip().lower()
        if key in self._entries:
            # stacklevel 4: past register() and the decorator, to the user's line.
            warnings.warn(
                f"{self.kind} {key!r} is already registered; replacing {self._entries[key]!r} with {obj!r}",
                stacklevel=4,
            )
        self._entries[key] = obj
        for alias in aliases:
            self._aliases[alias.lower()] = key

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` (case and aliases resolved); a ConfigError if there is none."""
        key = str(name).strip().lower()
        key = self._aliases.get(key, key)
        if key not in self._entries:
            known = self.names()
            close = difflib.get_close_matches(key, known + sorted(self._aliases), n=1)
            hint = f"did you mean {close[0]!r}?" if close else ""
            listed = ", ".join(self.describe(n) for n in known) or "none registered"
            raise ConfigError(self.key, name, f"a registered {self.kind} ({listed})", hint)
        return key

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def aliases(self, name: str) -> list[str]:
        """The other names that resolve to ``name``."""
        key = self.canonical(name)
        return sorted(alias for alias, target in self._aliases.items() if target == key)

    def describe(self, name: str) -> str:
        """``name`` with its aliases, as lists show it: ``bo (alias bayesian)``."""
        aliases = self.aliases(name)
        return f"{name} (alias {', '.join(aliases)})" if aliases else name

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell wildcard, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern.lower()))

    @contextmanager
    def scoped(self) -> Iterator[Registry[T]]:
        """``with registry.scoped():`` what is registered (or replaced) inside the block is undone when it ends."""
        entries, aliases = dict(self._entries), dict(self._aliases)
        try:
            yield self
        finally:
            self._entries, self._aliases = entries, aliases

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.strip().lower()
        return key in self._entries or key in self._aliases

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
