"""Property-based tests (hypothesis): encoding round trips, the Pareto front, config parsing for every schema key."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from neural_nas import NASConfig
from neural_nas.config import constraints as c
from neural_nas.config.schema import KEYS
from neural_nas.errors import ConfigError
from neural_nas.pareto import pareto_front, sign_adjust
from neural_nas.supernets.encoding import Encoding

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- Encoding ---------------------------------------------------------------------------------------------------------
choice_values = st.one_of(st.integers(-5, 50), st.sampled_from([0.25, 0.5, 1.5]), st.text("abcxyz", min_size=1))
specs = st.dictionaries(
    st.text("abcdefgh_", min_size=1, max_size=6),
    st.fixed_dictionaries(
        {"count": st.integers(1, 6), "vars": st.lists(choice_values, min_size=1, max_size=5, unique_by=repr)}
    ),
    min_size=1,
    max_size=4,
)


@st.composite
def spec_and_vectors(draw: Any) -> tuple[dict, np.ndarray]:
    spec = draw(specs)
    encoding = Encoding(spec)
    n = draw(st.integers(1, 6))
    rows = [[draw(st.integers(0, int(card) - 1)) for card in encoding.cardinalities] for _ in range(n)]
    return spec, np.array(rows, dtype=np.int64)


@FAST
@given(spec_and_vectors())
def test_encoding_round_trips(case):
    spec, vectors = case
    encoding = Encoding(spec)
    assert encoding.n_genes == sum(p["count"] for p in spec.values())
    assert encoding.n_onehot == sum(p["count"] * len(p["vars"]) for p in spec.values())
    onehots = encoding.onehot(vectors)
    assert onehots.shape == (len(vectors), encoding.n_onehot)
    assert (onehots.sum(axis=1) == encoding.n_genes).all()
    for vector, onehot in zip(vectors, onehots):
        subnet = encoding.vector_to_dict(vector)
        assert list(subnet) == list(spec)
        assert all(len(subnet[name]) == spec[name]["count"] for name in spec)
        assert all(v in spec[name]["vars"] for name in spec for v in subnet[name])
        assert encoding.dict_to_vector(subnet).tolist() == vector.tolist()
        assert encoding.vector_to_dict(encoding.dict_to_vector(subnet)) == subnet
        assert (encoding.onehot(vector) == onehot).all()
        assert encoding.onehot_to_vector(onehot).tolist() == vector.tolist()


@FAST
@given(spec_and_vectors(), st.integers(0, 2**31 - 1))
def test_random_vectors_are_valid_and_seeded(case, seed):
    spec, _ = case
    encoding = Encoding(spec)
    drawn = encoding.random_vectors(5, seed)
    assert (drawn >= 0).all() and (drawn < encoding.cardinalities).all()
    assert (encoding.random_vectors(5, seed) == drawn).all()
    for vector in drawn:
        assert encoding.dict_to_vector(encoding.vector_to_dict(vector)).tolist() == vector.tolist()


@FAST
@given(spec_and_vectors())
def test_encoding_rejects_out_of_range_vectors(case):
    spec, vectors = case
    encoding = Encoding(spec)
    bad = vectors[0].copy()
    bad[0] = encoding.cardinalities[0]
    with pytest.raises(ValueError):
        encoding.vector_to_dict(bad)
    with pytest.raises(ValueError):
        encoding.vector_to_dict(vectors[0][:-1] if encoding.n_genes > 1 else np.zeros(2, dtype=np.int64))


# -- Pareto front ---------------------------------------------------------------------------------------------------
@st.composite
def point_sets(draw: Any) -> tuple[list[list[float]], list[bool]]:
    m = draw(st.integers(1, 3))
    points = draw(st.lists(st.lists(st.integers(0, 4).map(float), min_size=m, max_size=m), max_size=14))
    return points, draw(st.lists(st.booleans(), min_size=m, max_size=m))


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool((a >= b).all() and (a > b).any())


@FAST
@given(point_sets())
def test_pareto_front_properties(case):
    points, higher = case
    kept = pareto_front(points, higher)
    assert kept == sorted(kept) and len(set(kept)) == len(kept)  # order of first evaluation kept
    if not points:
        assert kept == []
        return
    arr = sign_adjust(points, higher)
    for i in kept:  # no kept point is dominated by any point
        assert not any(dominates(arr[j], arr[i]) for j in range(len(arr)))
    for i in set(range(len(arr))) - set(kept):  # every dropped one is dominated or repeats an earlier kept one
        dominated = any(dominates(arr[j], arr[i]) for j in range(len(arr)))
        duplicate = any(j < i and (arr[j] == arr[i]).all() for j in kept)
        assert dominated or duplicate
    for a in kept:  # kept points are pairwise distinct
        assert sum((arr[b] == arr[a]).all() for b in kept) == 1


@FAST
@given(point_sets())
def test_pareto_front_direction_symmetry(case):
    points, higher = case
    flipped = [[-v for v in p] for p in points]
    assert pareto_front(points, higher) == pareto_front(flipped, [not h for h in higher])


# -- config parsing, per schema key ---------------------------------------------------------------------------------
names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)


def valid(constraint: c.Constraint) -> st.SearchStrategy:
    """Values the constraint accepts, built from its description (not from its own check)."""
    if isinstance(constraint, c.AnyOf):
        return st.one_of([valid(o) for o in constraint.options] + ([st.none()] if constraint.allow_none else []))
    if isinstance(constraint, c.Interval):
        low_open = constraint.closed in ("right", "neither")
        high_open = constraint.closed in ("left", "neither")
        if constraint.kind is int:
            low = None if constraint.low is None else int(constraint.low) + low_open
            high = None if constraint.high is None else int(constraint.high) - high_open
            return st.integers(low, high if high is not None else 10**9)
        return st.floats(
            constraint.low,
            constraint.high,
            exclude_min=low_open and constraint.low is not None,
            exclude_max=high_open and constraint.high is not None,
            allow_nan=False,
            allow_infinity=False,
        )
    if isinstance(constraint, c.Boolean):
        return st.booleans()
    if isinstance(constraint, c.String):
        return plain_text
    if isinstance(constraint, c.OneOf):
        return st.sampled_from(constraint.choices)
    if isinstance(constraint, c.ListOf):
        return st.lists(valid(constraint.item), min_size=constraint.min_len, max_size=constraint.max_len or 5)
    if isinstance(constraint, c.SearchSpaceMapping):
        choices = st.lists(st.one_of(st.integers(-9, 99), names), min_size=1, max_size=4, unique_by=repr)
        return st.dictionaries(names, choices, min_size=1, max_size=4)
    raise AssertionError(f"no strategy for {constraint!r}: extend the test with the new constraint type")


anything = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.booleans(),
    plain_text,
    st.lists(st.one_of(st.integers(-3, 3), names, st.booleans()), max_size=5),
    st.dictionaries(names, st.one_of(st.integers(), st.lists(st.integers(), max_size=2)), max_size=3),
)


@pytest.mark.parametrize("key", KEYS, ids=[k.path for k in KEYS])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_valid_values_round_trip(key, data):
    value = data.draw(valid(key.constraint))
    config = NASConfig.from_dict(_document(key.path, value))
    expected = key.default if value is None else value
    assert config.get(key.path) == expected
    assert _lookup(config.to_dict(), key.path) == expected
    again = NASConfig.from_dict(config.to_dict())
    assert again == config and again.get(key.path) == expected
    from_yaml = NASConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict(with_defaults=False))))
    assert from_yaml == config


@pytest.mark.parametrize("key", KEYS, ids=[k.path for k in KEYS])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_invalid_values_name_the_key(key, data):
    value = data.draw(st.one_of(anything, st.just(key.constraint.invalid_example())))
    assume(value is not None and not key.constraint.is_satisfied_by(value))
    with pytest.raises(ConfigError) as info:
        NASConfig.from_dict(_document(key.path, value))
    assert info.value.key.startswith(key.path)
    assert str(info.value).startswith(key.path) and " must be " in str(info.value)


@pytest.mark.parametrize("key", KEYS, ids=[k.path for k in KEYS])
def test_the_invalid_example_of_each_key_is_rejected(key):
    """The constraint's own example of a bad value is rejected, and the rejection agrees with the valid strategy."""
    with pytest.raises(ConfigError):
        NASConfig.from_dict(_document(key.path, key.constraint.invalid_example()))


@settings(max_examples=40, deadline=None)
@given(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_unknown_keys_are_refused_with_their_path(name):
    assume(name not in {p.rsplit(".", 1)[1] for p in (k.path for k in KEYS) if p.startswith("nas.search.")})
    with pytest.raises(ConfigError) as info:
        NASConfig.from_dict({"nas": {"search": {name: 1}}})
    assert info.value.key == f"nas.search.{name}"


def _document(path: str, value: Any) -> dict:
    document: dict = {}
    node = document
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    document.setdefault("nas", {})
    return document


def _lookup(tree: dict, path: str) -> Any:
    for part in path.split("."):
        tree = tree[part]
    return tree
