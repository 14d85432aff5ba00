"""Dynamic NAS contracts: a user's metric end to end, attributes it does not use, library bugs vs. failed
sub-networks, and the typed messages between ranks."""

import csv

import numpy as np
import pytest

from neural_nas import NAS
from neural_nas.approaches.dynas import subnet_measurement
from neural_nas.errors import ConfigError, MeasurementError
from neural_nas.measurements import Metric, metric_registry
from neural_nas.nas.executor import Executor, Failed, Measured, Round, Stop
from neural_nas.supernets import SuperNetwork, supernet_registry
from tests.synthetic_supernet import Synthetic, config, genes


@pytest.fixture
def energy_space():
    """A super-network measuring a user-registered metric ``energy`` (registered for this test only)."""

    class EnergySpace(Synthetic):
        name = "energy_space_for_tests"
        metrics = ("accuracy_top1", "energy")
        calls: list = []

        def measure(self, subnet, metrics):
            type(self).calls.append(subnet)
            a = np.array(subnet["a"], float)
            return {"accuracy_top1": 50 + a.sum(), "energy": 1 + 0.5 * (a**2).sum()}

    with metric_registry.scoped(), supernet_registry.scoped():
        metric_registry.add(Metric("energy", "Energy (mJ)", higher_is_better=False, unit="mJ"))
        supernet_registry.register(EnergySpace.name, EnergySpace)
        yield EnergySpace


def test_a_registered_metric_is_written_read_back_and_never_measured_again(in_tmp, energy_space):
    NAS(config(energy_space.name, ("acc", "energy"), num_evals=12)).search()
    with open(in_tmp / "dynas_results.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == "Energy (mJ)" and len(rows) == 13
    energies = {r[0]: float(r[-1]) for r in rows[1:]}
    assert all(e >= 1 for e in energies.values())
    first = list(energy_space.calls)
    agent = NAS(config(energy_space.name, ("acc", "energy"), num_evals=15))
    agent.search()
    assert len(energy_space.calls) == 15 and energy_space.calls[:12] == first  # 3 new ones only
    assert [t.metrics["energy"] for t in agent.study.trials[:12]] == [float(r[-1]) for r in rows[1:]]  # read back


def test_dynas_refuses_what_only_basic_nas_uses():
    agent = NAS(config("synthetic_for_tests", ("acc", "macs")))
    with pytest.raises(ConfigError, match="model_builder.*Basic NAS"):
        agent.model_builder = lambda arch: None
    with pytest.raises(ConfigError, match="search_space.*super-network"):
        agent.search_space = {"w": [1, 2]}

    class Searcher:
        def suggest(self):
            return {}

        def get_feedback(self, score):
            pass

    with pytest.raises(ConfigError, match="Basic NAS"):
        agent.search_algorithm = Searcher()
    with pytest.raises(ConfigError, match="nsga9"):
        agent.search_algorithm = "nsga9"  # unknown: never run in the place of another
    agent.search_algorithm = "age"
    assert agent.algorithm.name == "age" and agent.conf.nas.search.search_algorithm == "age"


def test_a_library_bug_is_never_recorded_as_a_failed_sub_network(in_tmp, monkeypatch):
    def broken(arch, values):
        raise KeyError("a bug in the library")

    monkeypatch.setattr(subnet_measurement, "finite_metrics", broken)
    with pytest.raises(KeyError, match="a bug in the library"):
        NAS(config("synthetic_for_tests", ("acc", "macs"), search={"on_error": "skip"})).search()
    assert not (in_tmp / "dynas_results.csv.failures.jsonl").exists()


def test_a_super_network_failure_is_a_measurement_error_naming_the_sub_network():
    class Broken(Synthetic):
        name = "broken_for_tests"

        def measure(self, subnet, metrics):
            raise RuntimeError("sensor unplugged")

    with supernet_registry.scoped():
        supernet_registry.register(Broken.name, Broken)
        agent = NAS(config(Broken.name, ("acc", "macs")))
        subnet = agent.supernet.encoding.vector_to_dict([0] * 12)
        with pytest.raises(MeasurementError, match="sensor unplugged") as info:
            agent.estimate(subnet)
    assert info.value.arch == subnet


class FakeRanks:
    """Two ranks, seen from rank ``rank``: what the driver broadcasts is scripted; gathers are recorded."""

    def __init__(self, rank, messages=(), outcomes=None):
        self.rank, self.world_size, self.is_driver = rank, 2, rank == 0
        self.messages, self.outcomes, self.sent, self.gathered = list(messages), outcomes, [], []

    def broadcast(self, obj=None):
        if self.is_driver:
            self.sent.append(obj)
            return obj
        return self.messages.pop(0)

    def gather(self, obj):
        self.gathered.append(obj)
        return [obj, self.outcomes.pop(0)] if self.is_driver else None


def test_rounds_carry_typed_messages_and_keep_failures_portable():
    error = MeasurementError("x", "boom")
    ranks = FakeRanks(0, outcomes=[Measured({"m": 2.0}), None])
    executor = Executor(ranks, lambda v: Failed("boom", error) if v[0] == 0 else Measured({"m": float(v[0])}))
    rounds = list(executor.rounds(np.array([[0], [1], [2]])))
    assert [len(r) for r in rounds] == [2, 1]
    assert rounds[0][0][1].error is error  # this rank's failure keeps its exception here...
    assert ranks.gathered[0] == Failed("boom") and ranks.gathered[0].error is None  # ...and sends only its reason
    assert isinstance(ranks.sent[0], Round) and executor.stop([1]) == [1] and ranks.sent[-1] == Stop([1])


def test_a_worker_measures_its_share_until_the_driver_stops():
    ranks = FakeRanks(1, messages=[Round(np.array([[5], [6]])), Round(np.array([[7]])), Stop(["done"])])
    assert Executor(ranks, lambda v: Measured({"m": float(v[0])})).serve() == ["done"]
    assert ranks.gathered == [Measured({"m": 6.0}), None]  # its share of each round (none in the last)
    failed = FakeRanks(1, messages=[Stop(failed=True)])
    with pytest.raises(RuntimeError, match="driver.*stopped with an error"):
        Executor(failed, lambda v: None).serve()


class Bar:
    """Stands in for the progress bar."""

    def update(self, n):
        pass

    def set_postfix(self, **kwargs):
        pass


def driver_with(tmp_path, outcomes_of_rank_1, measure_one, on_error="raise"):
    from neural_nas.approaches.dynas.driver import Driver
    from neural_nas.nas.run import Run
    from neural_nas.results.csv_store import CsvStore

    agent = NAS(config("synthetic_for_tests", ("acc", "macs"), search={"on_error": on_error}))
    store = CsvStore(tmp_path / "r.csv", agent.supernet, agent.settings.metric_names)
    executor = Executor(FakeRanks(0, outcomes=list(outcomes_of_rank_1)), measure_one)
    run = Run(agent, agent.study, store, executor, agent.settings.num_evals, Bar())
    return Driver(agent.settings, run), agent.study


def test_a_failure_in_a_round_never_drops_the_other_outcomes_of_that_round(tmp_path):
    def own(vector):
        raise MeasurementError("own", "boom")

    driver, study = driver_with(tmp_path, [Measured({"accuracy_top1": 1.0, "macs": 2.0})], own)
    with pytest.raises(MeasurementError, match="boom"):
        driver.measure(np.array([[0] * 12, [1] * 12]))
    assert len(study) == 1 and study.trials[0].arch == driver.encoding.vector_to_dict([1] * 12)  # rank 1's, on disk
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 2


def test_a_crash_on_any_rank_stops_the_search_after_the_round_is_written(tmp_path):
    from neural_nas.nas.executor import Crashed

    def own(vector):
        return Measured({"accuracy_top1": 1.0, "macs": 2.0})

    driver, study = driver_with(tmp_path, [Crashed(1, "KeyError: 'a bug'")], own, on_error="skip")
    with pytest.raises(RuntimeError, match="rank 1 failed: KeyError"):
        driver.measure(np.array([[0] * 12, [1] * 12]))
    assert len(study) == 1 and not study.failures  # a crash is never recorded as a failed sub-network


def test_an_error_that_is_not_the_sub_networks_still_completes_the_round():
    ranks = FakeRanks(1, messages=[Round(np.array([[5], [6]])), Stop(failed=True)])

    def broken(vector):
        raise KeyError("a bug")

    with pytest.raises(RuntimeError, match="driver"):
        Executor(ranks, broken).serve()
    crashed = ranks.gathered[0]
    assert crashed.rank == 1 and "KeyError" in crashed.reason and crashed.error is None  # sent as plain data


@pytest.fixture
def torch_space(register_supernet):
    """A super-network measured by the library: its sub-networks' forward passes raise when ``a[0] == 3``."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self, fails):
            super().__init__()
            self.fails, self.conv = fails, torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            if self.fails:
                raise RuntimeError("CUDA error: an illegal memory access")
            return self.conv(x).mean((2, 3))

    class TorchSpace(SuperNetwork):
        name = "torch_space_for_tests"
        encoding = genes(6)
        metrics = ("accuracy_top1", "macs", "latency")
        image_size = 8

        def active_subnet(self, subnet):
            return Net(subnet["a"][0] == 3)

    return register_supernet(TorchSpace)


def test_the_sub_networks_own_code_fails_it_the_librarys_code_fails_the_search(in_tmp, torch_space, monkeypatch):
    agent = NAS(config(torch_space.name, ("lat", "macs"), latency_warmup=0, latency_steps=1, batch_size=1))
    with pytest.raises(MeasurementError, match="illegal memory access"):
        agent.estimate({"a": [3] * 6, "b": [1] * 6})
    assert agent.estimate({"a": [0] * 6, "b": [1] * 6})["macs"] > 0

    from neural_nas.measurements import counting

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in counting")

    monkeypatch.setattr(counting, "count_macs_params", broken)
    with pytest.raises(ZeroDivisionError):
        agent.estimate({"a": [1] * 6, "b": [1] * 6})


def test_contracts_are_checked_when_they_are_declared():
    from neural_nas.evolution import AlgorithmSpec

    with pytest.raises(TypeError, match="define measure"):

        class Declared(SuperNetwork):
            measures_itself = True

    with pytest.raises(TypeError, match="population, seed, sampling"):
        AlgorithmSpec("two_args", 2, lambda population, seed: None)
    with metric_registry.scoped():
        assert metric_registry.add(Metric(" Energy", "E", False, "J")).name == "energy"
        assert metric_registry.get("ENERGY").name == "energy"


def test_a_dynas_agent_loads_a_results_csv_and_has_no_model_proposals(in_tmp):
    NAS(config("synthetic_for_tests", ("acc", "macs"), num_evals=12)).search()
    fresh = NAS(config("synthetic_for_tests", ("acc", "macs")))
    assert len(fresh.load_search_results("dynas_results.csv")) == 12 and len(fresh.find_best_model_archs()) >= 1
    with pytest.raises(ConfigError, match="search_tactic"):
        fresh.select_model_arch()


def test_how_latency_was_measured_is_recorded_beside_the_csv(in_tmp, torch_space, caplog):
    import json

    def search(num_evals, batch_size):
        settings = {"latency_warmup": 0, "latency_steps": 1, "batch_size": batch_size, "device": "cpu"}
        agent = NAS(
            config(torch_space.name, ("lat", "macs"), num_evals=num_evals, search={"on_error": "skip"}, **settings)
        )
        agent.search()

    search(10, batch_size=1)
    sidecar = in_tmp / "dynas_results.csv.latency.jsonl"
    first = [json.loads(line) for line in sidecar.read_text().splitlines()]
    assert len(first) == 1 and first[0]["device"] == "cpu" and first[0]["batch_size"] == 1
    assert first[0]["torch_threads"] >= 1 and first[0]["results_before"] == 0
    search(10, batch_size=1)  # nothing left to measure: nothing recorded
    assert len(sidecar.read_text().splitlines()) == 1 and "do not compare" not in caplog.text
    search(12, batch_size=2)
    assert "do not compare" in caplog.text and len(sidecar.read_text().splitlines()) == 2


def test_a_super_network_without_a_name_is_known_by_its_registered_name():
    from neural_nas.supernets import Encoding, SuperNetwork, create_supernet, supernet_registry

    class Nameless(SuperNetwork):
        encoding = Encoding({"a": {"count": 1, "vars": [1, 2]}})

    supernet_registry.register("nameless_space", Nameless)  # undone after the test (conftest scopes registries)
    assert create_supernet("Nameless_Space").name == "nameless_space" and Nameless.name == ""


@pytest.mark.parametrize(
    ("metrics", "runs"), [(("acc",), "ga"), (("acc", "macs"), "nsga2"), (("acc", "macs", "lat"), "unsga3")]
)
def test_the_notebooks_nsga2_runs_the_objective_counts_algorithm_with_one_warning(metrics, runs, caplog):
    """The reference's notebooks name nsga2 for 1 to 3 objectives; the reference ran GA, NSGA-II or U-NSGA-III."""
    agent = NAS(config("synthetic_for_tests", metrics, search={"search_algorithm": "nsga2"}))
    agent.validate()
    assert agent.algorithm.name == runs and agent.resolved_config()["nas"]["search"]["search_algorithm"] == runs
    warnings = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "search_algorithm" in r.getMessage()
    ]
    assert len(warnings) == (runs != "nsga2") and all(f"'{runs}' runs" in w for w in warnings)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_an_unreadable_image_stops_the_search_naming_it_even_under_skip(in_tmp, torch_space, num_workers):
    """A truncated JPEG is the data set's fault: a DataError naming the file before any sub-network is measured,
    never a sub-network recorded as failed (also when a DataLoader worker reads it)."""
    from neural_nas.errors import DataError
    from tests.image_data import make_image_folder

    root = make_image_folder(in_tmp / "images", size=16)
    broken = root / "val" / "class_1" / "0001.jpg"
    broken.write_bytes(broken.read_bytes()[:100])
    c = config(
        torch_space.name,
        ("acc", "macs"),
        search={"on_error": "skip"},
        dataset_path=str(root),
        pretrained=False,
        calibration_size=4,
        num_workers=num_workers,
    )
    with pytest.raises(DataError, match=r"0001.jpg: not a readable image"):
        NAS(c).search()
    assert not (in_tmp / "dynas_results.csv.failures.jsonl").exists()
    assert (
        not (in_tmp / "dynas_results.csv").exists() or len((in_tmp / "dynas_results.csv").read_text().splitlines()) <= 1
    )
