"""NASConfig: attribute access over a nested dict, backed by the schema (an unset key reads as its default)."""

from __future__ import annotations

import copy
import difflib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from neural_nas.config.schema import BY_PATH, FREE_SECTIONS, SECTIONS
from neural_nas.errors import ConfigError, UnknownKeyError

# `model.framework` values of the reference that mean PyTorch ("NA": the reference's placeholder for "not given").
MODEL_FRAMEWORKS = ("pytorch", "pytorch_fx", "pytorch_ipex", "NA")
_PYTORCH_ONLY = "neural_nas searches PyTorch models"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _children(prefix: str) -> list[str]:
    """Names directly under a section, as users may type them."""
    names = {
        p[len(prefix) + 1 :].split(".")[0] if prefix else p.split(".")[0]
        for p in list(BY_PATH) + list(SECTIONS) + list(FREE_SECTIONS)
        if p and (not prefix or p.startswith(prefix + "."))
    }
    return sorted(names)


def _unknown(path: str, value: Any) -> ConfigError:
    prefix, _, name = path.rpartition(".")
    allowed = _children(prefix)
    close = difflib.get_close_matches(name, allowed, n=1)
    where = f"`{prefix}`" if prefix else "the top level"
    return UnknownKeyError(
        path,
        value,
        f"{where} accepts: {', '.join(allowed)}",
        f"did you mean {_join(prefix, close[0])!r}?" if close else "",
    )


class NASConfig:
    """The NAS configuration, from Python or YAML (`NASConfig.from_yaml`).

    ``config.nas.search.max_trials = 10``; ``config.dynas.population = 50`` (``config.dynas`` is ``config.nas.dynas``).
    Assignments are checked at once against the schema, so a typo fails on the user's own line.

    The keyword arguments after the first three are those of the reference's Python-API ``NASConfig``
    (``neural_compressor.config`` / ``conf.pythonic_config``): the ``nas.search`` keys, and ``dynas`` as a mapping of
    ``nas.dynas`` keys or a ``DyNASConfig`` (anything with such a mapping as ``.config``). An empty list is unset.
    """

    def __init__(
        self,
        approach: str | None = None,
        search_space: Mapping | None = None,
        search_algorithm: str | None = None,
        metrics: list[str] | None = None,
        higher_is_better: list[bool] | None = None,
        max_trials: int | None = None,
        seed: int | None = None,
        dynas: Any = None,
        **unknown: Any,
    ) -> None:
        if unknown:  # a TypeError, as Python's own, but one that says what the arguments are and where the rest go
            taken = list(inspect.signature(NASConfig).parameters)[:-1]
            name = next(iter(unknown))
            close = difflib.get_close_matches(name, taken, n=1)
            raise TypeError(
                f"NASConfig() has no argument {name!r}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; it takes {', '.join(taken)}. Set any other key after building it, e.g. "
                "config.nas.search.on_error = 'skip' or config.dynas.population = 50"
            )
        self._data: dict[str, Any] = {}
        self.set("nas.approach", approach)
        self.set("nas.search.search_space", search_space)
        self.set("nas.search.search_algorithm", search_algorithm)
        for key, value in (("metrics", metrics), ("higher_is_better", higher_is_better)):
            self.set(f"nas.search.{key}", value if value != [] else None)
        self.set("nas.search.max_trials", max_trials)
        self.set("nas.search.seed", seed)
        if dynas is not None:
            section = getattr(dynas, "config", dynas)
            if not isinstance(section, Mapping):
                raise ConfigError("dynas", dynas, "a mapping of nas.dynas keys, or a DyNASConfig")
            self.set("nas.dynas", {k: v for k, v in section.items() if v is not None})

    # -- building ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, document: Any, *, source: str = "the configuration") -> NASConfig:
        """Validate a whole document (as loaded from YAML) and return a config holding a copy of it."""
        if not isinstance(document, Mapping):
            raise ConfigError(source, document, "a mapping with a `nas:` section")
        if not isinstance(document.get("nas"), Mapping):
            raise ConfigError(
                "nas", document.get("nas"), "a mapping with the NAS settings (`nas:` with `approach`, `search`, ...)"
            )
        config = cls()
        config._set_tree("", document)
        return config

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> NASConfig:
        """The configuration of a YAML file, opened read-only and parsed with `yaml.safe_load` only."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"NAS configuration file not found: {str(path)!r}")
        with open(path, encoding="utf-8") as f:  # read-only: the user's file is never rewritten
            text = f.read()
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(
                str(path), "<unparsable YAML>", "a valid YAML document", str(err).replace("\n", " ")
            ) from err
        return cls.from_dict(document, source=str(path))

    def _set_tree(self, prefix: str, tree: Mapping) -> None:
        for name, value in tree.items():
            if not isinstance(name, str):
                raise ConfigError(_join(prefix, str(name)), value, "a mapping with string keys")
            self.set(_join(prefix, name), value)

    def set(self, path: str, value: Any) -> None:
        """Set a key (dotted path) or a whole section (a mapping); None unsets a key (it then reads as its default)."""
        if path in SECTIONS:
            if value is None:
                return
            if not isinstance(value, Mapping):
                raise ConfigError(path, value, f"a mapping ({SECTIONS[path]})")
            self._set_tree(path, value)
            return
        if path in FREE_SECTIONS:
            if value is not None and not isinstance(value, (Mapping, str, int, float)):
                raise ConfigError(path, value, "a mapping or a scalar")
            framework = value.get("framework") if path == "model" and isinstance(value, Mapping) else None
            if framework is not None and framework not in MODEL_FRAMEWORKS:
                raise ConfigError("model.framework", framework, f"one of {', '.join(MODEL_FRAMEWORKS)}", _PYTORCH_ONLY)
            self._store(path, copy.deepcopy(value))
            return
        key = BY_PATH.get(path)
        if key is None:
            raise _unknown(path, value)
        if value is None:
            self._store(path, None)
            return
        key.constraint.validate(path, value)
        self._store(path, copy.deepcopy(value))

    def _store(self, path: str, value: Any) -> None:
        *parents, leaf = path.split(".")
        node = self._data
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value

    # -- reading ----------------------------------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        """The value of a key, or its default when unset; a section path gives a dict."""
        node: Any = self._data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                key = BY_PATH.get(path)
                if key is not None:
                    return copy.deepcopy(key.default)
                if path in SECTIONS:
                    return {}
                if path in FREE_SECTIONS:
                    return None
                raise _unknown(path, None)
            node = node[part]
        return node

    def resolved(self, path: str) -> Any:
        """The value of a key, with an unset (null) one resolved as its schema row says (`Key.unset`)."""
        value = self.get(path)
        return BY_PATH[path].unset if value is None else value

    def changed(self, path: str) -> bool:
        """Whether a key is set to something other than its default (a default written out, as the record of a run
        writes every key, changes nothing)."""
        return self.is_set(path) and self.get(path) != BY_PATH[path].default

    def is_set(self, path: str) -> bool:
        node: Any = self._data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return True

    def to_dict(self, *, with_defaults: bool = True) -> dict[str, Any]:
        """A deep copy of the document; with defaults filled in for every declared key."""
        out = copy.deepcopy(self._data)
        if with_defaults:
            for path, key in BY_PATH.items():
                if not self.is_set(path):
                    *parents, leaf = path.split(".")
                    node = out
                    for p in parents:
                        node = node.setdefault(p, {})
                    node[leaf] = copy.deepcopy(key.default)
        return out

    def copy(self) -> NASConfig:
        new = NASConfig()
        new._data = copy.deepcopy(self._data)
        return new

    @property
    def nas(self) -> _Section:
        return _Section(self, "nas")

    @property
    def usr_cfg(self) -> _Section:
        """The whole document by attribute, as the reference's ``usr_cfg``: ``config.usr_cfg.model.framework =
        "pytorch"``, ``config.usr_cfg.nas.search.max_trials``. Assignments are validated like any other."""
        return _Section(self, "")

    def validate(self) -> NASConfig:
        """Check the whole document again (as the reference's ``validate()``); returns the config."""
        NASConfig.from_dict(self.to_dict(with_defaults=False), source="the configuration")
        return self

    @property
    def dynas(self) -> _Section:
        return _Section(self, "nas.dynas")

    def __repr__(self) -> str:
        return f"NASConfig({self._data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NASConfig) and self.to_dict() == other.to_dict()


class _Section:
    """A view of one section: attributes are its keys (read with defaults, assigned with validation)."""

    __slots__ = ("_config", "_path")

    def __init__(self, config: NASConfig, path: str) -> None:
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        path = _join(self._path, name)
        if path in SECTIONS:
            return _Section(self._config, path)
        if path in FREE_SECTIONS and isinstance(self._config.get(path), (Mapping, type(None))):
            return _FreeView(self._config, path, ())
        if path in BY_PATH or path in FREE_SECTIONS:
            return self._config.get(path)
        err = _unknown(path, None)
        raise AttributeError(str(err).replace("; got None", ""))

    def __setattr__(self, name: str, value: Any) -> None:
        self._config.set(_join(self._path, name), value)

    def __dir__(self) -> list[str]:
        return _children(self._path)

    def __contains__(self, name: object) -> bool:
        """A key of this section: declared (it reads as its default when unset) or stored."""
        stored = self._config.get(self._path) if self._path else self._config.to_dict(with_defaults=False)
        return isinstance(name, str) and (name in _children(self._path) or name in (stored or {}))

    def __repr__(self) -> str:
        return f"<{self._path}: {self._config.get(self._path)!r}>"


class _FreeView:
    """A view into a free-form section (``model:``, ``train:``, ...): keys as attributes, stored as given.

    Reading a missing key gives None; assigning one creates it (and the section), as the reference's ``usr_cfg`` did.
    """

    __slots__ = ("_config", "_section", "_keys")

    def __init__(self, config: NASConfig, section: str, keys: tuple[str, ...]) -> None:
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_keys", keys)

    def _node(self) -> Any:
        node = self._config.get(self._section)
        for key in self._keys:
            node = node.get(key) if isinstance(node, Mapping) else None
        return node

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        node = self._node()
        value = node.get(name) if isinstance(node, Mapping) else None
        return _FreeView(self._config, self._section, (*self._keys, name)) if isinstance(value, Mapping) else value

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        document = copy.deepcopy(self._config.get(self._section)) or {}
        node = document
        for key in self._keys:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(".".join((self._section, *self._keys)), node, "a mapping (it holds a value)")
        node[name] = copy.deepcopy(value)
        self._config.set(self._section, document)

    __setitem__ = __setattr__

    def __bool__(self) -> bool:
        return bool(self._node())

    def __contains__(self, name: object) -> bool:
        node = self._node()
        return isinstance(node, Mapping) and name in node

    def __iter__(self) -> Any:
        node = self._node()
        return iter(node if isinstance(node, Mapping) else ())

    def get(self, name: str, default: Any = None) -> Any:
        return self.__getattr__(name) if name in self else default

    def keys(self) -> list[str]:
        return list(self)

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self.get(k)) for k in self]

    def __repr__(self) -> str:
        return f"<{'.'.join((self._section, *self._keys))}: {self._node()!r}>"
