import json
import math

import pytest
import torch

from neural_nas import NAS, BasicNAS, NASConfig
from neural_nas.errors import ConfigError, MeasurementError, ResultsFileError
from neural_nas.nas.base import DEFAULT_MAX_TRIALS


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def make_agent(basic_space, model_builder):
    """``make_agent(...)``: a grid-search agent on the shared space and builder; returns (agent, the eval's calls)."""

    def make(algorithm="grid", max_trials=4, metrics=("acc", "size"), hib=(True, False), eval_func=None):
        config = NASConfig(approach="basic", search_space=basic_space, search_algorithm=algorithm)
        config.nas.search.max_trials = max_trials
        if metrics is not None:
            config.nas.search.metrics = list(metrics)
        if hib is not None:
            config.nas.search.higher_is_better = list(hib)
        agent = NAS(config, model_builder=model_builder)
        calls = []

        def default_eval(model):
            calls.append(n_params(model))
            return {"acc": math.log(n_params(model)), "size": n_params(model)}

        agent.eval_func = eval_func or default_eval
        return agent, calls

    return make


def test_search_measures_max_trials_and_returns_the_front(in_tmp, make_agent):
    agent, calls = make_agent(max_trials=4)
    front = agent.search()
    assert len(calls) == 4
    assert len(agent.search_results) == 4
    # acc grows with size: every point is a trade-off, so all four are on the front, in evaluation order
    assert front == [{"depth": d, "width": w} for d, w in [(1, 2), (1, 4), (1, 8), (2, 2)]]
    assert agent.best_model_archs == front
    assert list(agent.search_results) == [(1, 2), (1, 4), (1, 8), (2, 2)]  # sorted-key order: depth, width


def test_default_max_trials_is_three(in_tmp, make_agent):
    agent, calls = make_agent(max_trials=None)
    agent.search()
    assert len(calls) == DEFAULT_MAX_TRIALS == 3


def test_results_files_and_resume(in_tmp, make_agent):
    agent, calls = make_agent(max_trials=3)
    agent.search()
    results = in_tmp / "NASResults"
    assert (results / "Final_results.txt").exists() and (results / "Trial_3_results.txt").exists()
    final = (results / "Final_results.txt").read_text()
    assert "depth_1,width_2: " in final and "Paras: 0.000006M" in final
    log = [json.loads(line) for line in (results / "results.jsonl").read_text().splitlines()]
    assert [r["arch"] for r in log] == [{"depth": 1, "width": 2}, {"depth": 1, "width": 4}, {"depth": 1, "width": 8}]
    assert all(r["params"] == r["metrics"]["size"] for r in log)

    again, calls2 = make_agent(max_trials=5)
    front = again.search()
    assert len(calls2) == 2  # the three earlier results are reused, not re-measured
    assert len(again.search_results) == 5
    assert {"depth": 1, "width": 2} in front
    archived = list((results / "previous_results").glob("*/Final_results.txt"))
    assert len(archived) == 1
    assert len((results / "results.jsonl").read_text().splitlines()) == 5


def test_resume_with_a_torn_last_line(in_tmp, make_agent):
    agent, _ = make_agent(max_trials=2)
    agent.search()
    log = in_tmp / "NASResults" / "results.jsonl"
    with open(log, "a") as f:
        f.write('{"arch": {"depth": 2, "wid')  # a crash in the middle of a write
    again, calls = make_agent(max_trials=3)
    again.search()
    assert len(calls) == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)


def test_a_corrupt_complete_line_is_an_error_naming_the_file(in_tmp, make_agent):
    agent, _ = make_agent(max_trials=2)
    agent.search()
    log = in_tmp / "NASResults" / "results.jsonl"
    log.write_text("not json\n" + log.read_text())
    again, calls = make_agent(max_trials=3)
    with pytest.raises(ResultsFileError, match=r"results.jsonl:1"):
        again.search()
    assert calls == []


def test_resume_with_other_metrics_is_refused(in_tmp, make_agent):
    agent, _ = make_agent(max_trials=2)
    agent.search()
    other, calls = make_agent(max_trials=3, metrics=("accuracy", "size"))
    with pytest.raises(ResultsFileError, match="nas.search.metrics"):
        other.search()
    assert calls == []


def test_no_trial_re_measures_a_known_architecture(in_tmp, make_agent):
    class Stubborn:
        """Proposes the same two architectures over and over."""

        def __init__(self):
            self.n = 0

        def suggest(self):
            self.n += 1
            return {"width": 2, "depth": 1 + self.n % 2}

        def get_feedback(self, score):
            pass

    agent, calls = make_agent(max_trials=5)
    agent.search_algorithm = Stubborn()
    agent.search()
    assert len(calls) == 2


def test_exhausted_space_stops_early(in_tmp, caplog, make_agent):
    agent, calls = make_agent(max_trials=50)
    with caplog.at_level("INFO", logger="neural_nas"):
        agent.search()
    assert len(calls) == 9
    assert "exhausted" in caplog.text


@pytest.mark.parametrize(
    ("result", "metrics", "expected"),
    [
        (0.5, None, {"metric": 0.5}),
        ([0.5, 3], None, {"metric_0": 0.5, "metric_1": 3.0}),
        ({"b": 1, "a": 2}, None, {"b": 1.0, "a": 2.0}),  # the dict's order becomes the metric order
        ({"a": 2, "b": 1}, ["b", "a"], {"b": 1.0, "a": 2.0}),  # configured order wins
        ([1, 2], ["x", "y"], {"x": 1.0, "y": 2.0}),
        (torch.tensor(0.25), ["x"], {"x": 0.25}),
    ],
)
def test_metric_conversion(in_tmp, result, metrics, expected, make_agent):
    agent, _ = make_agent(max_trials=1, metrics=metrics, hib=None, eval_func=lambda m: result)
    agent.search()
    assert list(agent.search_results.values()) == [expected]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"acc": 1.0}, "configured metrics"),
        ({"acc": 1.0, "size": 2.0, "extra": 3.0}, "configured metrics"),
        ([1.0], "1 value"),
        ({"acc": float("nan"), "size": 1}, "'acc' is nan"),
        ({"acc": float("inf"), "size": 1}, "'acc' is inf"),
        ({"acc": "high", "size": 1}, "not a number"),
    ],
)
def test_bad_metric_results_name_the_architecture(in_tmp, result, message, make_agent):
    agent, _ = make_agent(max_trials=2, eval_func=lambda m: result)
    with pytest.raises(MeasurementError, match=message) as info:
        agent.search()
    assert info.value.arch == {"depth": 1, "width": 2}


def test_a_failing_eval_keeps_earlier_results(in_tmp, make_agent):
    seen = []

    def flaky(model):
        seen.append(1)
        if len(seen) == 3:
            raise RuntimeError("GPU on fire")
        return [1.0, float(n_params(model))]

    agent, _ = make_agent(max_trials=4, eval_func=flaky)
    with pytest.raises(MeasurementError, match="GPU on fire") as info:
        agent.search()
    assert info.value.arch == {"depth": 1, "width": 8}
    assert isinstance(info.value.__cause__, RuntimeError)
    assert len((in_tmp / "NASResults" / "results.jsonl").read_text().splitlines()) == 2


def test_higher_is_better_must_match_the_metrics(in_tmp, make_agent):
    agent, _ = make_agent(max_trials=2, hib=(True,))
    with pytest.raises(ConfigError, match="nas.search.higher_is_better"):
        agent.search()


def test_higher_is_better_changes_the_front(in_tmp, make_agent):
    agent, _ = make_agent(max_trials=4, hib=(True, True))
    assert agent.search() == [{"depth": 1, "width": 8}]  # the biggest model wins both metrics


def test_missing_pieces_fail_before_any_work(in_tmp, basic_space, model_builder):
    config = NASConfig(approach="basic", search_space=basic_space)
    agent = NAS(config)
    agent.eval_func = lambda m: 1.0
    with pytest.raises(ConfigError, match="model_builder"):
        agent.search()
    agent = NAS(config, model_builder=model_builder)
    with pytest.raises(ConfigError, match="eval_func"):
        agent.search()
    agent = NAS(NASConfig(approach="basic"), model_builder=model_builder)
    agent.eval_func = lambda m: 1.0
    with pytest.raises(ConfigError, match="nas.search.search_space"):
        agent.search()
    assert not (in_tmp / "NASResults" / "results.jsonl").exists()


def test_model_builder_returning_a_non_module(in_tmp, basic_space):
    config = NASConfig(approach="basic", search_space=basic_space)
    agent = NAS(config, model_builder=lambda arch: "not a model")
    agent.eval_func = lambda m: 1.0
    with pytest.raises(ConfigError, match="model_builder.*torch.nn.Module"):
        agent.search()


@pytest.mark.parametrize(
    ("setter", "value", "key"),
    [
        ("search_space", {}, "search_space"),
        ("search_space", {"a": []}, "search_space.a"),
        ("search_space", {"a": 3}, "search_space.a"),
        ("search_space", [("a", [1])], "search_space"),
        ("model_builder", 42, "model_builder"),
        ("search_algorithm", "gird", "nas.search.search_algorithm"),
        ("search_algorithm", object(), "search_algorithm"),
        ("eval_func", "f", "eval_func"),
        ("train_func", 3, "train_func"),
    ],
)
def test_setters_validate(setter, value, key):
    agent = BasicNAS(NASConfig(approach="basic"))
    with pytest.raises(ConfigError) as info:
        setattr(agent, setter, value)
    assert info.value.key == key


def test_search_space_from_the_constructor_and_tuples(in_tmp, model_builder):
    agent = BasicNAS(NASConfig(), {"width": (2, 4), "depth": (1,)}, model_builder)
    agent.eval_func = lambda m: float(n_params(m))
    agent.search()
    agent2 = BasicNAS(NASConfig(), {"width": (2, 4), "depth": (1,)}, model_builder)
    agent2.eval_func = lambda m: pytest.fail("resumed results must not be re-measured")
    agent2.search()
    assert len(agent2.search_results) == 2


def test_dump_and_load_round_trip(in_tmp, make_agent):
    agent, _ = make_agent(max_trials=4)
    agent.search()
    agent.dump_search_results(in_tmp / "results.json")
    other, _ = make_agent(max_trials=4)
    loaded = other.load_search_results(in_tmp / "results.json")
    assert loaded == agent.search_results
    assert other.find_best_model_archs() == agent.best_model_archs
    also = BasicNAS(NASConfig())
    assert also.load_search_results(in_tmp / "NASResults" / "results.jsonl") == agent.search_results


def test_pickled_results_are_refused(in_tmp):
    (in_tmp / "lastest_results.npy").write_bytes(b"\x93NUMPY")
    with pytest.raises(ResultsFileError, match="pickle"):
        BasicNAS(NASConfig()).load_search_results(in_tmp / "lastest_results.npy")
    with pytest.raises(FileNotFoundError):
        BasicNAS(NASConfig()).load_search_results(in_tmp / "missing.json")


def test_res_save_path(tmp_path, make_agent):
    agent, _ = make_agent(max_trials=1)
    agent.search(res_save_path=tmp_path / "out")
    assert (tmp_path / "out" / "NASResults" / "Final_results.txt").exists()
    assert (tmp_path / "out" / "NASResults" / "config.yaml").exists()


def test_a_failing_model_builder_names_the_architecture(in_tmp, basic_space):
    def broken(arch):
        raise ValueError("no such layer")

    agent = NAS(NASConfig(approach="basic", search_space=basic_space, search_algorithm="grid"), model_builder=broken)
    agent.eval_func = lambda m: 1.0
    with pytest.raises(MeasurementError, match="no such layer") as info:
        agent.search()
    assert info.value.arch == {"depth": 1, "width": 2}


def test_a_registered_searcher_is_usable_by_name_from_yaml(in_tmp, basic_space, model_builder):
    import yaml

    from neural_nas.searchers import Searcher, searcher_registry

    @searcher_registry("widest_first_for_test")
    class WidestFirst(Searcher):
        def _next(self, visited):
            order = sorted(
                ((d, w) for d in range(3) for w in range(3)), key=lambda dw: (-dw[1], dw[0])
            )  # indices in sorted-key order: (depth, width)
            return next((i for i in order if i not in visited), None)

    (in_tmp / "nas.yaml").write_text(
        yaml.safe_dump(
            {
                "nas": {
                    "approach": "basic",
                    "search": {
                        "search_space": basic_space,
                        "search_algorithm": "Widest_First_For_Test",
                        "max_trials": 2,
                    },
                }
            }
        )
    )
    agent = NAS(str(in_tmp / "nas.yaml"), model_builder=model_builder)
    agent.eval_func = lambda model: float(n_params(model))
    agent.search()
    assert list(agent.search_results) == [(1, 8), (2, 8)]


def test_config_record_resolves_defaults_and_is_never_overwritten(in_tmp, make_agent):
    import yaml

    agent, calls = make_agent(algorithm=None, max_trials=None)
    agent.search()
    record = in_tmp / "NASResults" / "config.yaml"
    ran = yaml.safe_load(record.read_text())
    assert ran["nas"]["search"]["search_algorithm"] == "bo" and ran["nas"]["search"]["max_trials"] == DEFAULT_MAX_TRIALS
    assert (
        ran["nas"]["search"]["search_space"] == {"depth": [1, 2, 3], "width": [2, 4, 8]} and "dynas" not in ran["nas"]
    )
    first = record.read_text()

    again, _ = make_agent(algorithm="random", max_trials=None)  # nothing left to do: the record stays
    assert again.progress() == (DEFAULT_MAX_TRIALS, DEFAULT_MAX_TRIALS)
    again.search()
    assert record.read_text() == first and not (in_tmp / "NASResults" / "config.2.yaml").exists()

    more, _ = make_agent(algorithm="random", max_trials=5)  # other settings beside the same results
    more.search()
    assert record.read_text() == first
    assert yaml.safe_load((in_tmp / "NASResults" / "config.2.yaml").read_text())["nas"]["search"]["max_trials"] == 5
