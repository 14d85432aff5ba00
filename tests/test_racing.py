"""Racing of validation (``nas.dynas.racing``): the bounds, the stages, and searches that stop sub-networks early."""

import csv
import json
import logging

import numpy as np
import pytest

from neural_nas import NAS
from neural_nas.errors import MeasurementError
from neural_nas.measurements.racing import Front, Race, Sampled, Stopped, optimistic, stage_sizes, unit_order
from neural_nas.results.csv_store import racing_path
from neural_nas.results.dynast_csv import ResultsCsv
from neural_nas.results.study import arch_key
from tests.synthetic_supernet import Synthetic

UNITS = 2000  # validation units of the raced test super-network


class RacedSynthetic(Synthetic):
    """A self-measuring space whose top-1 is a mean over ``UNITS`` right-or-wrong validation units, which it can race.

    Each sub-network's units are drawn once from its own seed (with a share right that grows with its genes from
    about 3 % to 97 %), so every measurement of it, raced or whole, sees the same outcomes. ``units`` logs how many
    units each measurement evaluated."""

    name = "raced_synthetic_for_tests"
    metrics = ("accuracy_top1", "macs")
    raced_metric = "accuracy_top1"
    units: list = []

    @staticmethod
    def outcomes_of(subnet):
        a, b = np.array(subnet["a"], float), np.array(subnet["b"], float)
        share = 0.03 + 0.94 * (a.sum() + b.sum() - 6) / 30
        seed = abs(hash(arch_key(subnet))) % 2**32
        return (np.random.default_rng(seed).random(UNITS) < share).astype(float)

    def measure(self, subnet, metrics, race=None):
        type(self).calls.append(arch_key(subnet))
        if len(self.calls) == self.fail_at:
            raise RuntimeError("device lost")
        right = self.outcomes_of(subnet)
        a, b = np.array(subnet["a"], float), np.array(subnet["b"], float)
        known = {"macs": 1e6 * (a @ b + 1)}
        if race is None:
            type(self).units.append(UNITS)
            return {**known, "accuracy_top1": 100 * right.mean()}
        seen = []

        def outcomes(indices):
            seen.append(len(indices))
            return right[indices]

        sampled = Sampled("accuracy_top1", UNITS, outcomes, lambda values: 100 * values.mean(), scale=100.0)
        result = race.run(sampled, known)
        type(self).units.append(sum(seen))
        return result if isinstance(result, Stopped) else {**known, "accuracy_top1": result}


@pytest.fixture
def raced(register_supernet):
    RacedSynthetic.calls, RacedSynthetic.units = [], []
    yield register_supernet(RacedSynthetic)
    RacedSynthetic.calls, RacedSynthetic.units = [], []


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_stopped(csv_path):
    path = racing_path(csv_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- the bounds and the stages ---


def test_stages_are_nested_shares_that_end_with_the_whole_set():
    assert stage_sizes(2160) == [270, 540, 810, 1080, 1350, 1620, 1890, 2160]
    assert stage_sizes(10, (0.125, 0.25, 0.5, 1)) == [2, 3, 5, 10]
    assert stage_sizes(3, (0.01, 0.5)) == [1, 2, 3]  # at least one unit; the whole set always last
    assert stage_sizes(1) == [1]


def test_the_unit_order_is_one_seeded_permutation():
    order = unit_order(500, 7)
    assert sorted(order.tolist()) == list(range(500))
    assert np.array_equal(unit_order(500, 7), order) and not np.array_equal(unit_order(500, 8), order)


@pytest.mark.parametrize("binary", [True, False])
def test_the_optimistic_bound_holds_at_its_confidence(binary):
    """Over many random subsets of one finite set, the bound is below the whole set's mean at most about 1 % of the
    time at 0.99 (and is never below what was seen)."""
    rng = np.random.default_rng(0)
    n, seen = 1000, 125
    values = (rng.random(n) < 0.7).astype(float) if binary else rng.beta(2, 5, n)
    sampled = Sampled("m", n, lambda i: values[i], lambda v: v.mean(), binary=binary)
    misses = 0
    for _ in range(2000):
        subset = values[rng.choice(n, seen, replace=False)]
        bound = optimistic(subset, n, sampled, 0.99)
        assert bound >= subset.mean() - 1e-12
        misses += bound < values.mean() - 1e-12
    assert misses / 2000 <= 0.02
    assert optimistic(values, n, sampled) == pytest.approx(values.mean())  # all seen: the exact value


def test_the_bound_of_a_metric_to_minimise_is_a_lower_one():
    values = np.array([0.0] * 60 + [1.0] * 40)
    sampled = Sampled("err", 400, None, None, higher_is_better=False)
    assert optimistic(values, 400, sampled) < 0.4 < optimistic(values, 400, Sampled("acc", 400, None, None))


def test_outcomes_all_alike_so_far_still_leave_room():
    """Two BLEU batches of 0: Student's t would bound the mean at 0; the bound must still allow better batches."""
    sampled = Sampled("bleu", 16, None, None, binary=False, high=100.0)
    assert optimistic(np.zeros(2), 16, sampled) > 50


def test_binary_bound_is_exact_hypergeometric():
    """Seen 0 right of 50 from 100: the largest number right for which that is still 1 % likely."""
    from scipy.stats import hypergeom

    bound = optimistic(np.zeros(50), 100, Sampled("m", 100, None, None), 0.99)
    total = round(bound * 100)
    assert hypergeom.pmf(0, 100, total, 50) >= 0.01 > hypergeom.pmf(0, 100, total + 1, 50)


def test_front_dominance_follows_each_metrics_direction():
    front = Front(("acc", "macs"), (True, False), ((80.0, 100.0), (90.0, 300.0)))
    assert front.dominates({"acc": 79.0, "macs": 150.0})
    assert not front.dominates({"acc": 85.0, "macs": 150.0})
    assert not front.dominates({"acc": 80.0, "macs": 100.0})  # equal is not dominated
    assert not Front(("acc", "macs"), (True, False), ()).dominates({"acc": 0.0, "macs": 1e9})


def test_a_race_stops_a_hopeless_candidate_early_and_runs_a_good_one_to_the_end():
    right = (np.random.default_rng(1).random(UNITS) < 0.3).astype(float)
    calls = []

    def outcomes(indices):
        calls.append(indices)
        return right[indices]

    sampled = Sampled("acc", UNITS, outcomes, lambda v: 100 * v.mean(), scale=100.0)
    front = Front(("acc", "macs"), (True, False), ((60.0, 100.0),))
    stopped = Race(front, seed=3).run(sampled, {"macs": 200.0})
    assert isinstance(stopped, Stopped) and stopped.samples == UNITS // 8 and stopped.of == UNITS
    assert stopped.optimistic < 60 and stopped.metrics["macs"] == 200.0
    assert stopped.metrics["acc"] == pytest.approx(100 * right[unit_order(UNITS, 3)[: UNITS // 8]].mean())
    assert stopped.as_record()["estimate"] == stopped.metrics["acc"]

    calls.clear()
    whole = Race(front, seed=3).run(sampled, {"macs": 50.0})  # fewer MACs than the front: never dominated
    assert whole == pytest.approx(100 * right.mean())
    evaluated = np.concatenate(calls)
    assert sorted(evaluated.tolist()) == list(range(UNITS))  # every unit exactly once, across the stages


# --- searches ---


def whole_rows(csv_path):
    """The CSV's rows as (sub-network, metrics)."""
    rows = ResultsCsv(csv_path).read(RacedSynthetic().parse_record)
    return [(r.subnet, r.metrics) for r in rows]


def search(dynas_config, num_evals=40, **settings):
    settings = {"racing": True, "search_tactic": "random", **settings}
    return NAS(dynas_config(RacedSynthetic.name, ("acc", "macs"), num_evals=num_evals, **settings)).search()


def test_a_raced_search_stops_some_and_keeps_the_csv_whole(in_tmp, raced, dynas_config):
    search(dynas_config)
    rows, stopped = whole_rows(in_tmp / "dynas_results.csv"), read_stopped(in_tmp / "dynas_results.csv")
    assert stopped and rows
    assert len(rows) + len(stopped) == 40 == len(raced.calls) == len(set(raced.calls))  # stopped ones count
    assert sum(u == UNITS for u in raced.units) == len(rows)  # only whole measurements are in the CSV ...
    for subnet, metrics in rows:  # ... with the value an unraced measurement gives
        assert metrics["accuracy_top1"] == pytest.approx(100 * raced.outcomes_of(subnet).mean())
    assert sum(raced.units) < 40 * UNITS
    in_csv = {arch_key(subnet) for subnet, _ in rows}
    for record in stopped:
        subnet = raced().parse_record(record["arch"])
        assert arch_key(subnet) not in in_csv
        assert record["samples"] < record["of"] == UNITS and record["raced"] == "accuracy_top1"
        assert record["optimistic"] >= record["estimate"] == record["metrics"]["accuracy_top1"]
        assert record["metrics"]["macs"] == pytest.approx(1e6 * (np.dot(subnet["a"], subnet["b"]) + 1))


def test_stopped_sub_networks_are_dominated_when_measured_whole(in_tmp, raced, dynas_config):
    """No wrong stop here: each stopped sub-network, measured on all its units, is dominated by the final front."""
    search(dynas_config, num_evals=60)
    rows = whole_rows(in_tmp / "dynas_results.csv")
    front = Front(("accuracy_top1", "macs"), (True, False), tuple((m["accuracy_top1"], m["macs"]) for _, m in rows))
    records = read_stopped(in_tmp / "dynas_results.csv")
    assert records
    for record in records:
        subnet = raced().parse_record(record["arch"])
        whole = {**record["metrics"], "accuracy_top1": 100 * raced.outcomes_of(subnet).mean()}
        assert front.dominates(whole)


def test_racing_off_measures_everything_whole(in_tmp, raced, dynas_config):
    search(dynas_config, racing=False)
    assert raced.units == [UNITS] * 40
    assert len(whole_rows(in_tmp / "dynas_results.csv")) == 40
    assert not racing_path(in_tmp / "dynas_results.csv").exists()


def test_a_finished_raced_search_resumes_without_measuring(in_tmp, raced, dynas_config):
    first = search(dynas_config, num_evals=30)
    raced.calls.clear()
    assert search(dynas_config, num_evals=30) == first and raced.calls == []
    search(dynas_config, num_evals=35)  # a larger budget measures only the difference
    assert len(raced.calls) == 5


@pytest.mark.parametrize("tactic", ["random", "linas"])
def test_an_interrupted_raced_search_resumes_without_repeating(in_tmp, raced, dynas_config, tactic):
    raced.fail_at = 25
    with pytest.raises(MeasurementError, match="device lost"):
        search(dynas_config, search_tactic=tactic)
    stopped_before = read_stopped(in_tmp / "dynas_results.csv")
    assert stopped_before and len(whole_rows(in_tmp / "dynas_results.csv")) + len(stopped_before) == 24
    failed = raced.calls[24]
    raced.fail_at = None
    search(dynas_config, search_tactic=tactic)
    assert {k for k in raced.calls if raced.calls.count(k) > 1} <= {failed}
    assert len(raced.calls) == 24 + 1 + 16
    rows, stopped = whole_rows(in_tmp / "dynas_results.csv"), read_stopped(in_tmp / "dynas_results.csv")
    assert len(rows) + len(stopped) == 40 and stopped[: len(stopped_before)] == stopped_before


def test_stopped_before_a_metric_was_searched_scores_as_a_failure():
    """Resuming with another objective: a stopped record without it is not measured again and never preferred."""
    from neural_nas.results.study import Study

    study = Study(["accuracy_top1", "macs", "latency"], [True, False, False])
    study.add_trial({"a": [1]}, {"accuracy_top1": 80.0, "macs": 5.0, "latency": 2.0})
    study.add_stopped({"a": [2]}, {"accuracy_top1": 60.0, "macs": 9.0})
    assert study.is_done({"a": [2]}) and study.metrics_of({"a": [2]}) == study.failure_metrics()
    study.add_stopped({"a": [3]}, {"accuracy_top1": 61.0, "macs": 8.0, "latency": 3.0})
    assert study.metrics_of({"a": [3]}) == {"accuracy_top1": 61.0, "macs": 8.0, "latency": 3.0}


def test_racing_says_when_it_has_no_effect(in_tmp, dynas_config, caplog):
    """Racing on a super-network that cannot race, or that races a metric the search does not measure."""
    with caplog.at_level(logging.WARNING, logger="neural_nas"):
        NAS(dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=12, racing=True)).search()
    assert "nas.dynas.racing has no effect: synthetic_for_tests's measurement cannot race" in caplog.text
    assert caplog.text.count("racing has no effect") == 1


def test_racing_a_metric_the_search_does_not_measure_says_so(in_tmp, raced, dynas_config, caplog):
    with caplog.at_level(logging.WARNING, logger="neural_nas"):
        NAS(dynas_config(RacedSynthetic.name, ("macs",), num_evals=12, racing=True, search_tactic="random")).search()
    assert "the search does not measure accuracy_top1" in caplog.text
    assert set(raced.units) == {UNITS} and not racing_path(in_tmp / "dynas_results.csv").exists()


# --- the built-in measurers ---


def test_image_classification_top1_races_over_the_validation_images(tmp_path, racing_check):
    from neural_nas import NASConfig
    from neural_nas.measurements.context import MeasureContext
    from neural_nas.supernets import create_supernet
    from tests.image_data import make_image_folder

    conf = NASConfig(approach="dynas").dynas
    conf.dataset_path = str(make_image_folder(tmp_path, n_classes=3, n_train=4, n_val=4, size=40))
    conf.calibration_size, conf.num_workers = 6, 0
    supernet = create_supernet("ofa_mbv3_d234_e346_k357_w1.0")
    supernet.image_size = 32
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    measure = supernet.measurer(MeasureContext(("accuracy_top1", "macs"), conf, "cpu", 0))
    subnet = supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(1, 5)[0])
    _, stopped = racing_check(measure, subnet, "accuracy_top1", beyond=101.0)
    assert stopped.of == 12


@pytest.fixture(scope="module")
def digits():
    from neural_nas.supernets import create_supernet

    supernet = create_supernet("ofa_mbv3_digits")
    supernet.load(pretrained=True, ckpt_path=None, device="cpu")
    return supernet


def test_the_embedded_super_network_races_its_top1(digits, racing_check):
    subnet = digits.encoding.vector_to_dict(digits.encoding.random_vectors(1, 2)[0])
    whole, stopped = racing_check(
        lambda s, race=None: digits.measure(s, ["accuracy_top1", "macs"], race=race), subnet, "accuracy_top1", 101.0
    )
    assert stopped.of == 2160 and stopped.samples == 270
    assert abs(stopped.metrics["accuracy_top1"] - whole["accuracy_top1"]) < 10


def test_a_raced_search_on_the_embedded_super_network(in_tmp, dynas_config):
    agent = NAS(dynas_config("ofa_mbv3_digits", ("acc", "macs"), num_evals=20, racing=True, search_tactic="random"))
    agent.search()
    rows, stopped = read_csv(in_tmp / "dynas_results.csv"), read_stopped(in_tmp / "dynas_results.csv")
    assert len(rows) + len(stopped) == 20 and stopped
    assert all(record["samples"] < record["of"] == 2160 for record in stopped)
