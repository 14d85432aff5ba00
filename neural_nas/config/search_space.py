"""A validated Basic NAS search space: its keys in sorted order and their choices."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from neural_nas.config.constraints import SearchSpaceMapping as _SearchSpaceConstraint


class SearchSpace:
    """``{name: [choice, ...]}``; keys are handled in sorted order."""

    def __init__(self, space: Mapping[str, Sequence[Any]], *, key: str = "nas.search.search_space") -> None:
        _SearchSpaceConstraint().validate(key, space)
        self.names: list[str] = sorted(space)
        self.choices: list[list[Any]] = [list(space[n]) for n in self.names]
        self.size = math.prod(len(c) for c in self.choices)

    def as_dict(self) -> dict[str, list[Any]]:
        return dict(zip(self.names, self.choices))

    def arch(self, indices: Sequence[int]) -> dict[str, Any]:
        """The architecture dict for one choice index per (sorted) key."""
        return {n: c[int(i)] for n, c, i in zip(self.names, self.choices, indices)}

    def indices(self, arch: Mapping[str, Any]) -> tuple[int, ...]:
        """Inverse of `arch`; a ValueError if the architecture is not in the space."""
        if set(arch) != set(self.names):
            raise ValueError(f"architecture keys {sorted(arch)} differ from the search space keys {self.names}")
        try:
            return tuple(c.index(arch[n]) for n, c in zip(self.names, self.choices))
        except ValueError:
            raise ValueError(f"architecture {dict(arch)!r} has a value outside the search space") from None

    def contains(self, arch: Mapping[str, Any]) -> bool:
        try:
            self.indices(arch)
        except ValueError:
            return False
        return True
