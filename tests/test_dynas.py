"""Dynamic NAS end to end on this CPU: random-initialised super-networks, a generated ImageFolder, cheap user spaces."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from neural_nas import NAS, DyNAS
from neural_nas.approaches.dynas.driver import Driver
from neural_nas.errors import ConfigError, MeasurementError, ResultsFileError
from neural_nas.results.dynast_csv import HEADER
from neural_nas.results.study import arch_key
from neural_nas.supernets import supernet_registry
from tests.image_data import make_image_folder
from tests.synthetic_supernet import ExactMacs, Synthetic, genes

SHARED = Path(__file__).resolve().parent / "data" / "dynast_ofa_mbv3_w1.0"  # a copy of shared/data (Apache-2.0)
MBV3 = "ofa_mbv3_d234_e346_k357_w1.0"


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER
    return rows[1:]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("imagenet"), n_classes=3, n_train=4, n_val=2, size=64)


def test_seed_document_yaml_runs(in_tmp, images):
    document = {
        "nas": {
            "approach": "dynas",
            "search": {"search_algorithm": "nsga2", "seed": 42},
            "dynas": {
                "supernet": "ofa_mbv3_d234_e346_k357_w1.2",
                "metrics": ["acc", "macs"],
                "population": 10,
                "num_evals": 12,
                "results_csv_path": "search_results.csv",
                "batch_size": 1,
                "dataset_path": str(images),
                "pretrained": False,
                "eval_batch_size": 8,
                "num_workers": 0,
                "inner_evals": 400,
            },
        }
    }
    (in_tmp / "nas.yaml").write_text(yaml.safe_dump(document))
    agent = NAS(str(in_tmp / "nas.yaml"))
    assert isinstance(agent, DyNAS)
    results = agent.search()
    assert len(results) == 10  # the last measured population, as the reference's test expects
    rows = read_rows(in_tmp / "search_results.csv")
    assert len(rows) == 12
    for row in rows:
        assert row[0].startswith("{'wid': None, 'ks': [") and row[0].endswith("'r': [224]}")
        params, latency, macs, acc = (float(v) for v in row[2:])
        assert params > 0 and latency == 0 and macs > 0 and 0 <= acc <= 100
    front = agent.find_best_model_archs()
    assert front and all(set(s) == {"ks", "e", "d"} for s in front)


@pytest.mark.parametrize(
    ("supernet", "metrics", "algorithm"),
    [
        ("ofa_proxyless_d234_e346_k357_w1.3", ("acc",), "ga"),
        ("ofa_mbv3_d234_e346_k357_w1.2", ("params", "lat"), "age"),
        ("ofa_resnet50", ("macs", "params", "latency"), "unsga3"),
    ],
)
def test_a_search_per_super_network_family(in_tmp, images, supernet, metrics, algorithm, dynas_config):
    c = dynas_config(
        supernet,
        metrics,
        algorithm,
        num_evals=11,
        dataset_path=str(images),
        pretrained=False,
        eval_batch_size=8,
        num_workers=0,
        batch_size=1,
        latency_warmup=1,
        latency_steps=2,
    )
    agent = NAS(c)
    assert len(agent.search()) == 10
    rows = read_rows(in_tmp / "dynas_results.csv")
    assert len(rows) == 11 and len({r[0] for r in rows}) == 11
    column = {"accuracy_top1": 5, "params": 2, "latency": 3, "macs": 4}
    for name in agent.metric_names:  # random weights may score 0 % top-1: written 0.0, "measured zero"
        assert all(r[column[name]] != "0" and float(r[column[name]]) >= 0 for r in rows), name


@pytest.mark.parametrize(
    ("metrics", "algorithm"),
    [
        (("acc",), "ga"),
        (("acc",), "cmaes"),
        (("acc", "macs"), "nsga2"),
        (("acc", "lat"), "age"),
        (("acc", "macs", "lat"), "unsga3"),
        (("acc", "macs", "lat"), "ctaea"),
        (("acc", "macs", "lat"), "moead"),
        (("acc", "macs", "lat"), None),
    ],
)
def test_each_algorithm_at_its_objective_count(in_tmp, metrics, algorithm, dynas_config, synthetic):
    agent = NAS(dynas_config("synthetic_for_tests", metrics, algorithm, num_evals=30))
    assert len(agent.search()) == 10
    assert len(synthetic.calls) == len(set(synthetic.calls)) == 30  # nothing measured twice


@pytest.mark.parametrize("tactic", ["linas", "evolutionary", "random"])
def test_tactics_spend_exactly_the_budget(in_tmp, tactic, dynas_config, synthetic):
    agent = NAS(dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=25, search_tactic=tactic))
    agent.search()
    assert len(synthetic.calls) == len(set(synthetic.calls)) == 25
    assert len(read_rows(in_tmp / "dynas_results.csv")) == 25


def test_same_seed_same_search(in_tmp, dynas_config, synthetic):
    NAS(dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=25, results_csv_path="a.csv")).search()
    first, synthetic.calls = synthetic.calls, []
    NAS(dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=25, results_csv_path="b.csv")).search()
    assert synthetic.calls == first


@pytest.mark.parametrize("tactic", ["linas", "evolutionary"])
def test_resume_after_an_interrupted_search(in_tmp, tactic, dynas_config, synthetic):
    c = dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=30, search_tactic=tactic)
    synthetic.fail_at = 17
    with pytest.raises(MeasurementError, match="device lost") as info:
        NAS(c).search()
    assert set(info.value.arch) == {"a", "b"}
    assert len(read_rows(in_tmp / "dynas_results.csv")) == 16  # everything measured before the failure is on disk
    before, failed = list(synthetic.calls[:16]), synthetic.calls[16]
    synthetic.fail_at = None
    agent = NAS(c)
    agent.search()
    rows = read_rows(in_tmp / "dynas_results.csv")
    assert len(rows) == 30 and len({r[0] for r in rows}) == 30
    repeated = {k for k in synthetic.calls if synthetic.calls.count(k) > 1}
    assert repeated <= {failed}  # a completed measurement is never repeated (the failed one may be retried)
    assert len(synthetic.calls) == 16 + 1 + 14  # 16 kept, 1 failed, 14 more to reach 30
    assert set(before) <= set(agent.search_results)


def test_a_finished_search_resumes_without_measuring(in_tmp, dynas_config, synthetic):
    c = dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=20)
    first = NAS(c).search()
    synthetic.calls = []
    again = NAS(c).search()
    assert synthetic.calls == [] and again == first


def test_shared_csv_loads_as_earlier_results(in_tmp, dynas_config):
    shutil.copy(SHARED / "mbnv3w10_linasnsga2_acc_macs.csv", in_tmp / "earlier.csv")
    c = dynas_config(
        MBV3, ("acc", "macs"), population=50, num_evals=100, results_csv_path="earlier.csv", dataset_path="/nonexistent"
    )
    agent = NAS(c)
    result = agent.search()  # 554 rows already >= num_evals: nothing to measure, no dataset needed
    assert len(result) == 50
    rows = read_rows(in_tmp / "earlier.csv")
    supernet = agent.supernet
    networks = supernet.canonical(
        np.stack([supernet.encoding.dict_to_vector(supernet.parse_record(r[0])) for r in rows])
    )
    assert len(rows) == 554 and len(agent.search_results) == len({tuple(v) for v in networks}) == 515  # one per network
    assert len((in_tmp / "earlier.csv").read_text().splitlines()) == 1 + 554  # the file keeps every row
    front = agent.find_best_model_archs()
    accs = [agent.search_results[arch_key(s)]["accuracy_top1"] for s in front]
    assert max(accs) == max(m["accuracy_top1"] for m in agent.search_results.values())
    acc = agent.create_acc_predictor()
    subnets = [t.arch for t in agent.study.trials[:20]]
    assert acc.predict(subnets).shape == (20,)
    macs = agent.create_macs_predictor()
    assert macs.predict(subnets).tolist() == [agent.search_results[arch_key(s)]["macs"] for s in subnets]


def test_every_row_of_a_resumed_file_counts_toward_num_evals(in_tmp, dynas_config):
    """The reference's 554-row w1.0 file holds 515 networks: its 39 second rows were measurements spent too, so a
    search resumed with num_evals 564 measures 10 networks, not 49."""
    shutil.copy(SHARED / "mbnv3w10_linasnsga2_acc_macs.csv", in_tmp / "earlier.csv")
    c = dynas_config(MBV3, ("params", "macs"), num_evals=564, results_csv_path="earlier.csv", search_tactic="random")
    agent = NAS(c)
    assert agent.progress() == (554, 564)
    agent.search()
    assert len(read_rows(in_tmp / "earlier.csv")) == 564 and len(agent.study) == 515 + 10
    assert agent.progress() == (564, 564)


def test_csv_of_another_super_network_is_refused(in_tmp, dynas_config):
    shutil.copy(SHARED / "mbnv3w10_evoga_acc.csv", in_tmp / "w10.csv")
    c = dynas_config("ofa_mbv3_d234_e346_k357_w1.2", ("params", "macs"), results_csv_path="w10.csv")
    with pytest.raises(ResultsFileError, match="another super-network"):
        NAS(c).search()
    assert len(read_rows(in_tmp / "w10.csv")) == 364  # untouched


def test_estimate_measures_one_sub_network(dynas_config):
    agent = NAS(dynas_config(MBV3, ("params", "macs")))
    subnet = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5}
    metrics = agent.estimate(subnet)
    assert metrics["params"] > 0 and metrics["macs"] > 0
    with pytest.raises(ConfigError):
        agent.estimate({"ks": [4] * 20, "e": [3] * 20, "d": [2] * 5})


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"supernet": "ofa_mbv3_d234_e346_k357_w1.5"}, "nas.dynas.supernet"),
        ({"metrics": ["acc", "flops"]}, "nas.dynas.metrics"),
        ({"metrics": ["acc", "accuracy_top1"]}, "nas.dynas.metrics"),
        ({"search_tactic": "linear"}, "nas.dynas.search_tactic"),
        ({"algorithm": "nsga3"}, "nas.search.search_algorithm"),
    ],
)
def test_config_errors_before_any_work(in_tmp, change, key, dynas_config):
    kwargs = {"supernet": "synthetic_for_tests", "metrics": ("acc", "macs"), **change}
    with pytest.raises(ConfigError) as info:
        NAS(dynas_config(**kwargs))
    assert info.value.key == key


def test_accuracy_needs_a_dataset_path_only_to_measure(in_tmp, dynas_config, caplog):
    agent = NAS(dynas_config(MBV3, ("acc", "macs")))  # as the reference: a warning, the script may still set it
    assert "dataset_path is not set" in caplog.text
    with pytest.raises(ConfigError, match="nas.dynas.dataset_path"):
        agent.search()  # ... but a search that must measure accuracy stops before the first measurement
    assert not (in_tmp / "dynas_results.csv").exists()


def test_metric_the_super_network_cannot_measure(dynas_config):
    with pytest.raises(ConfigError, match="cannot measure params"):
        NAS(dynas_config("synthetic_for_tests", ("acc", "params")))


def test_offline_without_weights_is_one_clear_error(in_tmp, images, monkeypatch, dynas_config):
    from neural_nas.supernets import _weights

    monkeypatch.setenv("NEURAL_NAS_CACHE", str(in_tmp / "cache"))

    def offline(url, dest):
        raise OSError("no network")

    monkeypatch.setattr(_weights, "download", offline)
    agent = NAS(dynas_config(MBV3, ("acc", "macs"), dataset_path=str(images), num_workers=0))
    with pytest.raises(ConfigError) as info:
        agent.search()
    message = str(info.value)
    assert "nas.dynas.supernet_ckpt_path" in message and MBV3 in message and "NEURAL_NAS_CACHE" in message
    assert not (in_tmp / "dynas_results.csv").exists() or read_rows(in_tmp / "dynas_results.csv") == []


def test_metrics_that_do_not_depend_on_weights_never_need_them(in_tmp, monkeypatch, dynas_config, caplog):
    """MACs, params and latency are the same for random weights: pretrained (the default) loads nothing then."""
    import logging

    from neural_nas.supernets import _weights

    monkeypatch.setenv("NEURAL_NAS_CACHE", str(in_tmp / "cache"))  # empty: a weights file would be downloaded

    def offline(url, dest):
        raise AssertionError("no weights may be fetched for latency and MACs")

    monkeypatch.setattr(_weights, "download", offline)
    agent = NAS(dynas_config(MBV3, ("lat", "macs"), batch_size=1, latency_warmup=0, latency_steps=1))
    with caplog.at_level(logging.INFO, logger="neural_nas"):
        metrics = agent.estimate({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5})
    assert metrics["latency"] > 0 and metrics["macs"] > 0
    assert "runs without them" in caplog.text


def test_custom_supernet_example(in_tmp):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "custom_supernet.py"
    spec = importlib.util.spec_from_file_location("custom_supernet", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    agent = example.run(num_evals=14, population=10, csv=str(in_tmp / "mlp.csv"))
    assert len(agent.search_results) == 14
    assert len(read_rows(in_tmp / "mlp.csv")) == 14
    front = agent.find_best_model_archs()
    assert front and all(set(s) == {"width", "active"} for s in front)


def test_best_first_orders_by_non_dominated_rank():
    from neural_nas.pareto import best_first

    vectors = np.arange(4)[:, None]
    assert best_first(vectors, np.array([[3.0, 3], [1, 1], [2, 0], [4, 4]])).ravel().tolist() == [1, 2, 0, 3]
    assert best_first(vectors[:3], np.array([[3.0], [1], [2]])).ravel().tolist() == [1, 2, 0]


def test_inner_budget_per_super_network_and_numpy_metrics(in_tmp, dynas_config):
    assert NAS(dynas_config(MBV3, ("params", "macs"), inner_evals=None)).inner_evals == 20000
    assert NAS(dynas_config("ofa_resnet50", ("params", "macs"), inner_evals=None)).inner_evals == 5000
    assert NAS(dynas_config("ofa_resnet50", ("params", "macs"), inner_evals=700)).inner_evals == 700

    @supernet_registry("numpy_metrics_for_tests")
    class NumpyMetrics(Synthetic):
        name = "numpy_metrics_for_tests"

        def measure(self, subnet, metrics):
            return {k: np.float32(v) for k, v in super().measure(subnet, metrics).items()}

    agent = NAS(dynas_config("numpy_metrics_for_tests", ("acc", "macs"), num_evals=10))
    agent.search()
    assert len(agent.search_results) == 10


@pytest.mark.parametrize(("population", "initial", "first_fit"), [(10, None, 10), (30, None, 20), (10, 4, 4)])
def test_initial_population_sets_when_predictors_take_over(
    in_tmp, monkeypatch, population, initial, first_fit, dynas_config, synthetic
):
    fits = []
    original = Driver.fit_predictor

    def recording(self, metric):
        fits.append(self.n_measured())
        return original(self, metric)

    monkeypatch.setattr(Driver, "fit_predictor", recording)
    agent = NAS(
        dynas_config(
            "synthetic_for_tests", ("acc", "macs"), population=population, num_evals=24, initial_population=initial
        )
    )
    agent.search()
    assert fits[0] == first_fit  # the random first population (default 20, at most one population), then predictors
    assert len(synthetic.calls) == len(set(synthetic.calls)) == 24


def test_inner_search_starts_from_the_best_measured(in_tmp, monkeypatch, dynas_config):
    """Half of the inner search's first population is the measured sub-networks, best first; the rest is random."""
    import neural_nas.evolution.numpy_nsga2 as numpy_nsga2
    from neural_nas.evolution.tactics import MIN_INNER_POPULATION
    from neural_nas.pareto import best_first

    starts, real_nsga2 = [], numpy_nsga2.nsga2

    def recording(objectives, cardinalities, first, *args, **kwargs):
        starts.append(np.asarray(first, dtype=np.int64))
        return real_nsga2(objectives, cardinalities, first, *args, **kwargs)

    monkeypatch.setattr(numpy_nsga2, "nsga2", recording)  # nsga2's inner search imports it when it runs
    agent = NAS(
        dynas_config("synthetic_for_tests", ("acc", "macs"), population=10, num_evals=20, initial_population=10)
    )
    agent.search()
    assert len(starts) == 1 and starts[0].shape == (MIN_INNER_POPULATION, 12)
    encoding = agent.supernet.encoding
    first_ten = agent.study.trials[:10]  # the random first population the predictors were fitted on
    vectors = np.stack([encoding.dict_to_vector(t.arch) for t in first_ten])
    objectives = np.array([[-t.metrics["accuracy_top1"], t.metrics["macs"]] for t in first_ten])
    expected = best_first(vectors, objectives)  # all 10: the measured share is half the inner population
    assert starts[0][:10].tolist() == expected.tolist()
    assert not {tuple(v) for v in starts[0][10:]} & {tuple(v) for v in vectors}  # the fill: random, not measured


class Tiny(Synthetic):
    name = "tiny_for_tests"
    encoding = genes(1)  # 4 x 3 = 12 sub-networks: less than the budget
    calls: list = []


@pytest.fixture
def tiny(register_supernet):
    """`Tiny`, registered for this test only, with an empty call log."""
    Tiny.calls = []
    return register_supernet(Tiny)


@pytest.mark.parametrize("tactic", ["linas", "evolutionary", "random"])
@pytest.mark.parametrize("initial", [None, 2])
def test_a_search_space_smaller_than_the_budget_is_measured_once(in_tmp, tactic, initial, dynas_config, tiny):
    agent = NAS(
        dynas_config(
            tiny.name,
            ("acc", "macs"),
            population=10,
            num_evals=30,
            search_tactic=tactic,
            initial_population=initial,
        )
    )
    agent.search()
    assert len(tiny.calls) == len(set(tiny.calls)) == len(agent.search_results)
    assert len(read_rows(agent.results_csv_path)) == len(tiny.calls)
    if tactic != "evolutionary":  # NSGA-II may stop proposing new sub-networks before the space is exhausted
        assert len(tiny.calls) == 12


def test_the_driver_never_measures_a_sub_network_twice(in_tmp, caplog, dynas_config, synthetic):
    from neural_nas.evolution.tactics import tactic_registry

    @tactic_registry("repeating_for_tests")
    def repeating(state):  # a faulty user tactic: proposes the same sub-networks again
        first = state.random_unmeasured(3)
        state.measure(np.concatenate([first, first]))
        state.measure(first)

    agent = NAS(dynas_config("synthetic_for_tests", num_evals=10, search_tactic="repeating_for_tests"))
    agent.search()
    assert len(synthetic.calls) == len(set(synthetic.calls)) == 3
    assert "proposed 3 sub-network(s) measured already or twice" in caplog.text


@pytest.fixture
def exact_macs(register_supernet):
    """The synthetic space with its MACs exact (known before measuring): what search constraints apply to."""

    class Space(ExactMacs):
        name = "synthetic_exact_macs"

    return register_supernet(Space)


@pytest.mark.parametrize("tactic", ["linas", "evolutionary", "random"])
def test_a_constrained_search_measures_only_what_meets_the_constraints(in_tmp, tactic, dynas_config, exact_macs):
    c = dynas_config(exact_macs.name, ("acc", "macs"), num_evals=25, search_tactic=tactic, constraints=["macs<=12M"])
    NAS(c).search()
    measured = read_rows(in_tmp / "dynas_results.csv")
    assert len(measured) == 25 and len(exact_macs.calls) == 25
    supernet = exact_macs()
    for row in measured:
        vector = supernet.encoding.dict_to_vector(supernet.parse_record(row[0]))
        assert supernet.exact_metrics(vector[None])["macs"][0] <= 12e6


@pytest.mark.parametrize("tactic", ["linas", "evolutionary", "random"])
def test_a_constrained_search_of_a_small_space_measures_every_feasible_network_then_stops(
    in_tmp, tactic, dynas_config, register_supernet
):
    """3 genes of each kind: 1,728 networks, 54 within 2M MACs; a budget of 100 measures those 54 and stops."""

    class SmallExact(ExactMacs):
        name = "synthetic_small_exact"
        encoding = genes(3)

    register_supernet(SmallExact)
    supernet = SmallExact()
    every = np.stack(np.meshgrid(*[np.arange(c) for c in supernet.encoding.cardinalities], indexing="ij"), -1)
    feasible = int((supernet.exact_metrics(every.reshape(-1, 6))["macs"] <= 2e6).sum())
    c = dynas_config(SmallExact.name, ("acc", "macs"), num_evals=100, search_tactic=tactic, constraints=["macs<=2M"])
    NAS(c).search()
    assert len(SmallExact.calls) == len(set(SmallExact.calls)) == len(read_rows(in_tmp / "dynas_results.csv"))
    if tactic != "evolutionary":  # the evolutionary baseline may converge before it has seen them all
        assert len(SmallExact.calls) == feasible == 54


def test_constraints_no_sub_network_meets_are_refused_before_any_work(dynas_config, exact_macs):
    with pytest.raises(ConfigError, match="none of 20000 drawn at random"):
        NAS(dynas_config(exact_macs.name, ("acc", "macs"), constraints=["macs<=0.5M"]))


def test_a_search_constraint_must_be_on_an_exact_metric(dynas_config, exact_macs):
    with pytest.raises(ConfigError, match="exact metric") as err:
        NAS(dynas_config(exact_macs.name, ("acc", "macs"), constraints=["acc>=60"]))
    assert "--where 'acc>=60'" in str(err.value)
    with pytest.raises(ConfigError, match="nas.dynas.constraints"):
        NAS(dynas_config(exact_macs.name, ("acc", "macs"), constraints=["macs about 3"]))


def test_rows_that_miss_a_constraint_rank_behind_every_row_that_meets_it():
    from neural_nas.evolution.problem import penalised

    values = np.array([[1.0, 5.0], [9.0, 9.0], [0.0, 0.0], [0.5, 0.5], [0.1, 0.1]])
    out = penalised(values, np.array([0.0, 0.0, 0.1, 2.0, np.nan]))
    assert (out[:2] == values[:2]).all()
    assert (out[2] > values[:2].max(axis=0)).all() and (out[3] > out[2]).all()  # the further off, the worse
    assert (out[4] > values[:2].max(axis=0)).all()  # an unknown violation is no feasibility
    # rows evaluated in another call (offspring after parents) compare the same way
    later = penalised(np.array([[1e9, 1e9]]), np.array([0.0]))
    assert (later[0] < out[2]).all()
