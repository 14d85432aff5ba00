"""The record of a search (`Study`): one identity, one budget rule, one failure rule, the measured front."""

import math

import pytest

from neural_nas.errors import ConfigError, MeasurementError, TooManyFailuresError
from neural_nas.results.study import FailureGuard, Study, arch_key, finite_metrics


def study():
    return Study(["acc", "size"], [True, False])


def test_an_architecture_is_its_values_in_sorted_key_order():
    assert arch_key({"w": [1, 2], "d": 3}) == arch_key({"d": 3, "w": (1, 2)}) == (3, (1, 2))
    s = study()
    assert s.add_trial({"w": [1, 2], "d": 3}, {"acc": 1.0, "size": 2.0})
    assert not s.add_trial({"d": 3, "w": [1, 2]}, {"acc": 9.0, "size": 9.0})  # the same one: kept as first measured
    assert len(s) == 1 and s.get({"d": 3, "w": [1, 2]}).metrics == {"acc": 1.0, "size": 2.0}


def test_failures_count_toward_the_budget_and_are_never_measured_again():
    s = study()
    s.add_trial({"w": 1}, {"acc": 1.0, "size": 2.0})
    assert s.add_failure({"w": 2})
    assert not s.add_failure({"w": 1})  # measured already: not a failure
    assert s.spent() == 2 and s.remaining(5) == 3 and s.remaining(1) == 0
    assert s.is_done({"w": 2}) and not s.is_done({"w": 3})
    assert s.failures == [{"w": 2}] and [t.arch for t in s.trials] == [{"w": 1}]


def test_a_failure_scores_the_worst_measured_value_of_each_metric():
    s = study()
    assert s.failure_metrics() == {"acc": 0.0, "size": 0.0}  # nothing measured yet
    s.add_trial({"w": 1}, {"acc": 70.0, "size": 5.0})
    s.add_trial({"w": 2}, {"acc": 60.0, "size": 9.0})
    s.add_failure({"w": 3})
    assert s.failure_metrics() == {"acc": 60.0, "size": 9.0}
    assert s.metrics_of({"w": 3}) == s.metrics_of({"w": 4}) == {"acc": 60.0, "size": 9.0}
    # The scalar a Basic NAS searcher is fed: never above any measured architecture's.
    assert s.scalar(s.failure_metrics()) <= min(s.scalar(t.metrics) for t in s.trials)
    assert s.scalar({"acc": 70.0, "size": 5.0}) == 65.0  # the sum of the sign-adjusted metrics


def test_the_front_is_measured_and_in_order_of_first_measurement():
    s = study()
    for w, (acc, size) in enumerate([(3, 3), (1, 1), (2, 2), (1, 4), (3, 3)]):
        s.add_trial({"w": w}, {"acc": acc, "size": size})
    assert [t.arch["w"] for t in s.front()] == [0, 1, 2]  # (1, 4) is dominated; (3, 3) again is a duplicate
    assert Study().front() == []


def test_metric_names_can_come_later_with_the_configured_directions():
    s = Study(None, [True, False])
    assert s.metric_names is None and s.failure_metrics() == {}
    s.define_metrics(["acc", "size"])
    assert s.higher_is_better == [True, False]
    with pytest.raises(ConfigError, match="nas.search.higher_is_better"):
        Study(None, [True]).define_metrics(["acc", "size"])
    assert Study(["a"]).higher_is_better == [True]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "is nan"),
        (math.inf, "is inf"),
        ("0.5", "not a number"),
        (True, "not a number"),
        (None, "not a number"),
    ],
)
def test_a_metric_must_be_a_finite_number(value, message):
    with pytest.raises(MeasurementError, match=message) as info:
        finite_metrics({"w": 1}, {"acc": value})
    assert info.value.arch == {"w": 1}


def test_numbers_of_any_numeric_type_are_accepted():
    import numpy as np
    import torch

    assert finite_metrics("a", {"a": np.float32(0.5), "b": torch.tensor(2), "c": 3}) == {"a": 0.5, "b": 2.0, "c": 3.0}


def test_failure_guard_stops_at_the_limit_and_resets_on_success():
    guard = FailureGuard(skip=True, limit=2, record="r.jsonl")
    guard.failed("a", "x")
    guard.succeeded()
    guard.failed("b", "y")
    with pytest.raises(TooManyFailuresError, match="r.jsonl"):
        guard.failed("c", "z")
