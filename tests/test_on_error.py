"""`nas.search.on_error`: failing measurements (exceptions, NaN) in Basic and Dynamic NAS, `raise` and `skip`."""

from __future__ import annotations

import json
import math

import pytest

from neural_nas import NAS, NASConfig
from neural_nas.errors import ConfigError, MeasurementError, ResultsFileError, TooManyFailuresError
from neural_nas.results.csv_store import failures_path
from neural_nas.results.study import arch_key
from tests.synthetic_supernet import Synthetic, genes


@pytest.fixture
def basic_agent(basic_space, model_builder):
    """``basic_agent(fails, result, max_trials, algorithm, **search)``: a Basic NAS agent whose eval function fails
    for the architectures ``fails`` selects (or returns ``result`` for them); returns (agent, the eval's calls)."""

    def make(fails=lambda arch: False, result=None, max_trials=5, algorithm="grid", **search):
        config = NASConfig(approach="basic", search_space=basic_space, search_algorithm=algorithm)
        config.nas.search.max_trials = max_trials
        config.nas.search.metrics = ["acc", "size"]
        config.nas.search.higher_is_better = [True, False]
        for key, value in search.items():
            setattr(config.nas.search, key, value)
        agent = NAS(config, model_builder=model_builder)
        calls = []

        def evaluate(model):
            arch = {"width": model[0].in_features, "depth": len(model)}
            calls.append(arch_key(arch))
            if fails(arch):
                if result is not None:
                    return result
                raise RuntimeError("CUDA out of memory (simulated)")
            size = sum(p.numel() for p in model.parameters())
            return {"acc": math.log(size), "size": size}

        agent.eval_func = evaluate
        return agent, calls

    return make


def journal(tmp):
    return [json.loads(line) for line in (tmp / "NASResults" / "results.jsonl").read_text().splitlines()]


def depth_two(arch):
    return arch["depth"] == 2


# -- Basic NAS ---------------------------------------------------------------------------------------------------------
def test_default_is_raise_and_keeps_what_was_measured(in_tmp, basic_agent):
    agent, calls = basic_agent(fails=lambda a: a == {"depth": 1, "width": 8})
    with pytest.raises(MeasurementError, match="out of memory") as info:
        agent.search()
    assert info.value.arch == {"depth": 1, "width": 8}
    assert "'width': 8" in str(info.value)
    assert [r["arch"] for r in journal(in_tmp)] == [{"depth": 1, "width": 2}, {"depth": 1, "width": 4}]
    fixed, calls2 = basic_agent()
    fixed.search()  # raise mode records no failure: the fixed function measures it on resume
    assert calls2[0] == (1, 8) and len(calls2) == 3


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {"acc": float("nan"), "size": 3}, "high"])
def test_nan_or_non_number_is_a_measurement_error_naming_the_architecture(in_tmp, bad, basic_agent):
    agent, _ = basic_agent(fails=lambda a: a["width"] == 4, result=bad)
    with pytest.raises(MeasurementError, match=r"'width': 4"):
        agent.search()
    assert len(journal(in_tmp)) == 1


def test_train_func_failure_is_reported_with_the_architecture(in_tmp, basic_agent):
    agent, _ = basic_agent()

    def train(model):
        raise ValueError("diverged")

    agent.train_func = train
    with pytest.raises(MeasurementError, match="diverged") as info:
        agent.search()
    assert info.value.arch == {"depth": 1, "width": 2}


def test_skip_records_failures_and_goes_on(in_tmp, basic_agent):
    agent, calls = basic_agent(fails=depth_two, max_trials=7, on_error="skip")
    front = agent.search()
    records = journal(in_tmp)
    failed = [r for r in records if "error" in r]
    measured = [r for r in records if "metrics" in r]
    assert len(calls) == 7  # grid order: depth 1 (3 measured), depth 2 (3 failed), depth 3 (1 measured)
    assert len(measured) == 4 == len(agent.search_results)  # failures count toward max_trials
    assert [r["arch"] for r in failed] == [{"depth": 2, "width": w} for w in (2, 4, 8)]
    assert all("out of memory" in r["error"] and "time" in r for r in failed)
    assert front and all(a["depth"] != 2 for a in front)
    final = (in_tmp / "NASResults" / "Final_results.txt").read_text()
    assert "Failed measurements (3" in final and "depth_2,width_4" in final
    assert final.startswith("Search results: 4 architectures")


def test_skip_failures_are_not_retried_on_resume(in_tmp, basic_agent):
    agent, _ = basic_agent(fails=depth_two, max_trials=5, on_error="skip")
    agent.search()  # 3 measured, 2 failed
    again, calls = basic_agent(max_trials=8, on_error="skip")  # now nothing would fail
    again.search()
    assert calls == [(2, 8), (3, 2), (3, 4)]  # (2, 2) and (2, 4) are recorded as failed: not measured again
    assert len(again.search_results) == 6
    retry, calls3 = basic_agent(max_trials=9, on_error="skip", retry_failed=True)
    retry.search()  # the failures no longer count: 6 measured + 3 to go
    assert sorted(calls3) == [(2, 2), (2, 4), (3, 8)]
    assert len(retry.search_results) == 9


def test_skip_with_a_searcher_that_keeps_proposing_failed_ones(in_tmp, basic_agent):
    agent, calls = basic_agent(fails=depth_two, max_trials=20, on_error="skip", algorithm="bo")
    agent.search()  # the space is exhausted: 6 measured, 3 failed, no endless loop
    assert len(agent.search_results) == 6 and len(calls) == 9


def test_every_measurement_failing_stops_with_a_clear_error(in_tmp, basic_agent):
    agent, calls = basic_agent(fails=lambda a: True, max_trials=9, on_error="skip", max_consecutive_failures=4)
    with pytest.raises(TooManyFailuresError) as info:
        agent.search()
    assert isinstance(info.value, MeasurementError)
    message = str(info.value)
    assert "4 measurements in a row failed" in message and "nas.search.max_consecutive_failures" in message
    assert "out of memory" in message and "results.jsonl" in message
    assert len(calls) == 4 and len(journal(in_tmp)) == 4


def test_a_success_resets_the_failure_count(in_tmp, basic_agent):
    agent, calls = basic_agent(
        fails=lambda a: a["width"] != 8, max_trials=9, on_error="skip", max_consecutive_failures=3
    )
    agent.search()  # grid: two failures, one success, repeated: never three failures in a row
    assert len(agent.search_results) == 3 and len(calls) == 9


def test_a_builder_returning_a_non_module_is_a_config_error_even_with_skip(in_tmp, basic_agent):
    agent, _ = basic_agent(on_error="skip")
    agent.model_builder = lambda arch: "not a model"
    with pytest.raises(ConfigError, match="model_builder"):
        agent.search()


# -- Dynamic NAS ------------------------------------------------------------------------------------------------------
class Flaky(Synthetic):
    """`Synthetic` with 10 genes; sub-networks with sum(a) % 3 == 0 fail (or return NaN) while ``failing``."""

    name = "on_error_synthetic"
    encoding = genes(5)
    calls: list = []
    failing = staticmethod(lambda subnet: sum(subnet["a"]) % 3 == 0)
    nan = False

    def measure(self, subnet, metrics):
        if not Flaky.failing(subnet):
            return super().measure(subnet, metrics)  # records the call in Flaky.calls
        Flaky.calls.append(arch_key(subnet))
        if Flaky.nan:
            return {"accuracy_top1": float("nan"), "macs": 1.0, "latency": 1.0}
        raise RuntimeError("sensor timeout")


@pytest.fixture
def flaky(register_supernet):
    """`Flaky`, registered as ``on_error_synthetic`` for this test only, with its failure rule reset."""
    Flaky.calls, Flaky.nan = [], False
    Flaky.failing = staticmethod(lambda subnet: sum(subnet["a"]) % 3 == 0)
    return register_supernet(Flaky)


@pytest.fixture
def flaky_config(flaky, dynas_config):
    """``flaky_config(num_evals, tactic, **search)``: a Dynamic NAS config on `Flaky`."""

    def make(num_evals=30, tactic="linas", **search):
        return dynas_config(flaky.name, num_evals=num_evals, inner_evals=300, search_tactic=tactic, search=search)

    return make


def failures(tmp):
    path = failures_path(tmp / "dynas_results.csv")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def csv_rows(tmp):
    return (tmp / "dynas_results.csv").read_text().splitlines()[1:]


@pytest.mark.parametrize("tactic", ["linas", "evolutionary", "random"])
@pytest.mark.parametrize("nan", [False, True])
def test_dynas_skip_records_failures_beside_the_csv(in_tmp, tactic, nan, flaky_config):
    Flaky.nan = nan
    agent = NAS(flaky_config(tactic=tactic, on_error="skip"))
    result = agent.search()
    assert len(result) == 10
    rows = csv_rows(in_tmp)
    failed = failures(in_tmp)
    assert len(rows) + len(failed) == 30 == len(Flaky.calls) == len(set(Flaky.calls))  # failures count
    assert len(rows) == len(agent.search_results)
    assert failed and all(("nan" if nan else "sensor timeout") in f["error"] for f in failed)
    assert all(sum(f["arch"]["a"]) % 3 == 0 for f in failed)
    assert all(sum(a["a"]) % 3 for a in agent.find_best_model_archs())


def test_dynas_failures_are_not_retried_on_resume(in_tmp, flaky_config):
    NAS(flaky_config(num_evals=20, on_error="skip")).search()
    failed = {arch_key(f["arch"]) for f in failures(in_tmp)}
    assert failed
    Flaky.calls, Flaky.failing = [], staticmethod(lambda subnet: False)
    agent = NAS(flaky_config(num_evals=30, on_error="skip"))
    agent.search()
    assert len(Flaky.calls) == 10 and not failed & set(Flaky.calls)
    assert len(agent.search_results) == 30 - len(failed)
    Flaky.calls = []
    agent = NAS(flaky_config(num_evals=30, on_error="skip", retry_failed=True))
    agent.search()  # the recorded failures no longer count: as many new measurements
    assert len(Flaky.calls) == len(failed) and len(agent.search_results) == 30


def test_dynas_raise_writes_no_failure_record(in_tmp, flaky_config):
    with pytest.raises(MeasurementError, match="sensor timeout") as info:
        NAS(flaky_config()).search()
    assert Flaky.failing(info.value.arch)
    assert failures(in_tmp) == []
    assert len(csv_rows(in_tmp)) == len(Flaky.calls) - 1


def test_dynas_every_measurement_failing_stops(in_tmp, flaky_config):
    Flaky.failing = staticmethod(lambda subnet: True)
    with pytest.raises(TooManyFailuresError, match="nas.search.max_consecutive_failures") as info:
        NAS(flaky_config(on_error="skip", max_consecutive_failures=5)).search()
    assert "failures.jsonl" in str(info.value) and "sensor timeout" in str(info.value)
    assert len(failures(in_tmp)) == 5 and len(Flaky.calls) == 5
    assert not (in_tmp / "dynas_results.csv").exists() or csv_rows(in_tmp) == []


def test_dynas_failures_file_of_another_super_network_is_refused(in_tmp, flaky_config):
    failures_path(in_tmp / "dynas_results.csv").write_text(json.dumps({"arch": {"ks": [3] * 20}, "error": "x"}) + "\n")
    with pytest.raises(ResultsFileError, match=r"failures\.jsonl:1"):
        NAS(flaky_config(on_error="skip")).search()
    assert Flaky.calls == []
