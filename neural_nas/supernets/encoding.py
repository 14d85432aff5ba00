"""One sub-network, three views: a vector of choice indices, a parameter dict, and a one-hot vector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neural_nas._rng import as_generator


class Encoding:
    """The genes of a super-network: ``{param: {'count': n, 'vars': [choices]}}``, parameters in the given order.

    A vector holds one choice index per gene (``count`` genes per parameter, parameters in order); the dict maps each
    parameter to its list of chosen values; the one-hot view has one segment of ``len(vars)`` entries per gene.
    """

    def __init__(self, params: Mapping[str, Mapping[str, Any]]) -> None:
        if not params:
            raise ValueError("an encoding needs at least one parameter")
        self.params = {name: {"count": int(spec["count"]), "vars": list(spec["vars"])} for name, spec in params.items()}
        for name, spec in self.params.items():
            if spec["count"] < 1 or not spec["vars"]:
                raise ValueError(f"parameter {name!r} needs count >= 1 and at least one choice; got {spec!r}")
        self.cardinalities = np.array(
            [len(spec["vars"]) for spec in self.params.values() for _ in range(spec["count"])], dtype=np.int64
        )
        self.n_genes = int(self.cardinalities.size)
        self.n_onehot = int(self.cardinalities.sum())
        # Start of each gene's one-hot segment.
        self._offsets = np.concatenate([[0], np.cumsum(self.cardinalities)[:-1]])
        self._index = {name: {v: i for i, v in enumerate(spec["vars"])} for name, spec in self.params.items()}

    def __repr__(self) -> str:
        return f"Encoding({self.params!r})"

    def vector_to_dict(self, vector: Sequence[int]) -> dict[str, list]:
        vector = np.asarray(vector, dtype=np.int64)
        if vector.shape != (self.n_genes,):
            raise ValueError(f"expected a vector of {self.n_genes} choice indices; got shape {vector.shape}")
        if (vector < 0).any() or (vector >= self.cardinalities).any():
            raise ValueError(f"choice index out of range in {vector.tolist()}")
        out, start = {}, 0
        for name, spec in self.params.items():
            out[name] = [spec["vars"][i] for i in vector[start : start + spec["count"]]]
            start += spec["count"]
        return out

    def dict_to_vector(self, subnet: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Inverse of `vector_to_dict`; keys other than the encoded parameters are ignored (e.g. ``wid``, ``r``)."""
        vector = []
        for name, spec in self.params.items():
            if name not in subnet:
                raise ValueError(f"sub-network {dict(subnet)!r} has no {name!r}")
            values = list(subnet[name])
            if len(values) != spec["count"]:
                raise ValueError(f"{name!r} needs {spec['count']} values; got {len(values)}")
            for v in values:
                try:
                    vector.append(self._index[name][v])
                except KeyError:
                    raise ValueError(f"{name!r} value {v!r} is not one of {spec['vars']}") from None
        return np.array(vector, dtype=np.int64)

    def onehot(self, vectors: np.ndarray) -> np.ndarray:
        """One-hot encode a vector (1-D) or a population of vectors (2-D), without Python loops over rows."""
        vectors = np.asarray(vectors, dtype=np.int64)
        single = vectors.ndim == 1
        vectors = np.atleast_2d(vectors)
        out = np.zeros((vectors.shape[0], self.n_onehot), dtype=np.float32)
        rows = np.arange(vectors.shape[0])[:, None]
        out[rows, self._offsets[None, :] + vectors] = 1.0
        return out[0] if single else out

    def onehot_to_vector(self, onehot: np.ndarray) -> np.ndarray:
        onehot = np.asarray(onehot)
        return np.array(
            [int(np.argmax(onehot[o : o + c])) for o, c in zip(self._offsets, self.cardinalities)], dtype=np.int64
        )

    def random_vectors(self, n: int, rng: None | int | np.random.Generator = None) -> np.ndarray:
        """``n`` uniformly random vectors (rows), drawn from ``rng`` only."""
        rng = as_generator(rng)
        return rng.integers(0, self.cardinalities, size=(n, self.n_genes), dtype=np.int64)
