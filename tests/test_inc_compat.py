"""The reference's idioms beyond its own test: usr_cfg, Datasets, common.Model, PyTorchDataLoader."""

import pytest
import torch

from neural_nas import NAS, NASConfig
from neural_nas.data import DATASETS, Datasets
from neural_nas.errors import ConfigError
from neural_nas.experimental import common
from neural_nas.experimental.data.dataloaders.pytorch_dataloader import PyTorchDataLoader


def test_usr_cfg_is_the_whole_document_by_attribute():
    config = NASConfig(approach="basic", search_space={"w": [1, 2]})
    config.usr_cfg.model.framework = "pytorch"  # a section that did not exist yet
    config.usr_cfg.nas.search.max_trials = 5
    assert config.usr_cfg.model.framework == "pytorch" and config.to_dict()["model"] == {"framework": "pytorch"}
    assert config.nas.search.max_trials == 5 and config.usr_cfg.nas.approach == "basic"
    assert config.usr_cfg.train.optimizer is None and not config.usr_cfg.train  # unset: nothing there
    with pytest.raises(ConfigError, match="did you mean 'nas.search.max_trials'"):
        config.usr_cfg.nas.search.max_trial = 5  # validated like any assignment
    assert config.validate() is config


def test_datasets_are_the_built_in_datasets_of_the_yaml_sections():
    datasets = Datasets("pytorch")
    assert "dummy" in datasets and DATASETS is Datasets
    x, y = datasets["dummy"](shape=(4, 3, 8, 8), low=0.0, high=1.0, label=True)[0]
    assert x.shape == (3, 8, 8) and y == 0 and 0 <= float(x.min()) <= float(x.max()) <= 1
    with pytest.raises(ConfigError, match="dataset"):
        datasets["nope"]
    with pytest.raises(ConfigError, match="PyTorch"):
        Datasets("tensorflow")


def test_pytorch_dataloader_takes_the_references_arguments():
    dataset = Datasets("pytorch")["dummy"](shape=(5, 2), label=True)
    assert [len(x) for x, _ in PyTorchDataLoader(dataset, batch_size=2)] == [2, 2, 1]
    assert [len(x) for x, _ in PyTorchDataLoader(dataset, batch_size=2, last_batch="discard")] == [2, 2]
    with pytest.raises(ConfigError, match="last_batch"):
        PyTorchDataLoader(dataset, last_batch="pad")
    with pytest.raises(ConfigError, match="DistributedSampler"):
        PyTorchDataLoader(dataset, distributed=True)


def test_common_model_wraps_what_a_model_builder_returns(in_tmp):
    inner = torch.nn.Linear(4, 2)
    model = common.Model(inner)
    assert model.model is inner and torch.equal(model(torch.ones(1, 4)), inner(torch.ones(1, 4)))
    with pytest.raises(ConfigError, match="torch.nn.Module"):
        common.Model("not a model")
    config = NASConfig(approach="basic", search_space={"width": [2, 4]}, search_algorithm="grid")
    agent = NAS(config, model_builder=lambda arch: common.Model(torch.nn.Linear(4, arch["width"])))
    agent.eval_func = lambda m: {"acc": float(m(torch.ones(1, 4)).shape[1])}
    agent.search()
    assert [t.params for t in agent.study.trials] == [10, 20]  # the wrapped module's own parameters


def test_agent_attributes_work_or_name_the_key_to_use(in_tmp, dynas_config):
    basic = NAS(NASConfig(approach="basic", search_space={"w": [1, 2, 3]}, search_algorithm="grid"))
    basic.model_builder = lambda arch: torch.nn.Linear(arch["w"], 1)
    basic.eval_func = lambda m: {"size": float(m.in_features), "acc": 1.0}
    basic.max_trials, basic.seed = 2, 3
    basic.metrics, basic.higher_is_better = ["size", "acc"], [False, True]
    basic.search()
    assert len(basic.study) == 2 and basic.study.metric_names == ["size", "acc"] and basic.seed == 3
    assert basic.study.higher_is_better == [False, True]
    with pytest.raises(ConfigError, match="nas.search.metrics.*before the first result"):
        basic.metrics = ["acc"]
    with pytest.raises(ConfigError, match="load_search_results"):
        basic.search_results = {}
    for name in ("train_dataloader", "eval_dataloader", "metric"):
        with pytest.raises(ConfigError, match=name):
            setattr(basic, name, object())

    dynas = NAS(dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=11))
    dynas.seed, dynas.metrics = 5, ["acc", "lat"]
    assert dynas.settings.seed == 5 and dynas.metric_names == ["accuracy_top1", "latency"]
    with pytest.raises(ConfigError, match="nas.dynas.num_evals"):
        dynas.max_trials = 3
    with pytest.raises(ConfigError, match="declares its direction"):
        dynas.higher_is_better = [True, True]
    dynas.conf.dynas.num_evals = 12  # set on the config after the agent was built: used by the next search
    dynas.search()
    assert len(dynas.study) == 12
    with pytest.raises(ConfigError, match="metrics of the recorded results"):
        dynas.metrics = ["acc", "macs"]


def test_the_references_python_config_api(in_tmp, dynas_config):
    from neural_nas.conf.pythonic_config import Config, DyNASConfig
    from neural_nas.conf.pythonic_config import NASConfig as PythonicNASConfig

    assert PythonicNASConfig is NASConfig
    nas = NASConfig(
        approach="dynas",
        search_algorithm="nsga2",
        seed=3,
        dynas=DyNASConfig(supernet="synthetic_for_tests", metrics=["acc", "macs"], population=10, num_evals=11),
    )
    assert nas.dynas.population == 10 and nas.nas.search.seed == 3 and nas.nas.search.metrics is None
    agent = NAS(Config(nas=nas, quantization=object()))
    agent.search()
    assert len(agent.study) == 11
    basic = NASConfig("basic", {"w": [1, 2]}, "grid", metrics=["acc"], higher_is_better=[True], max_trials=1)
    assert (basic.nas.search.metrics, basic.nas.search.max_trials) == (["acc"], 1)
    with pytest.raises(ConfigError, match="nas.dynas.populaton"):
        NASConfig(approach="dynas", dynas={"populaton": 10})
    with pytest.raises(ConfigError, match="Config.nas"):
        NAS(Config())


def test_usr_cfg_sections_behave_like_the_references_mappings():
    config = NASConfig(approach="dynas")
    config.usr_cfg.train.epoch = 2
    train = config.usr_cfg.train
    assert "epoch" in train and "nope" not in train and train.get("epoch") == 2 and train.get("nope", 5) == 5
    assert dict(train.items()) == {"epoch": 2} and list(train) == ["epoch"] == train.keys()
    assert "dynas" in config.usr_cfg.nas and "search" in config.usr_cfg.nas and "bogus" not in config.usr_cfg.nas
    with pytest.raises(ConfigError, match="model.framework.*PyTorch"):
        config.usr_cfg.model.framework = "tensorflow"


def test_dynas_agent_attributes_of_the_reference(in_tmp, dynas_config):
    agent = NAS(dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=11))
    agent.num_evals, agent.population, agent.results_csv_path = 12, 11, "mine.csv"
    held = agent.conf  # a reference taken before: it sees the changes too
    agent.search_algo = "age"
    assert held.dynas.num_evals == 12 and held.nas.search.search_algorithm == "age"
    agent.search()
    assert len(agent.study) == 12 and (in_tmp / "mine.csv").is_file()
    assert agent.create_acc_predictor() is agent.acc_predictor
    for name in ("train_func", "eval_func"):
        with pytest.raises(ConfigError, match=f"{name}.*Dynamic NAS"):
            setattr(agent, name, lambda model: None)
    agent.results_csv_path = "other.csv"  # another file: its own record, nothing carried over
    agent.search()
    assert len(agent.study) == 12 and len((in_tmp / "other.csv").read_text().splitlines()) == 13
    with pytest.raises(ConfigError, match="nas.search.max_trials.*nas.dynas.num_evals"):
        NAS(NASConfig(approach="dynas", max_trials=7, dynas={"supernet": "synthetic_for_tests", "metrics": ["acc"]}))


def test_a_changed_measurement_setting_is_measured_with(in_tmp, dynas_config):
    """What measuring depends on, changed on agent.conf after a measurement, starts measuring afresh."""
    agent = NAS(dynas_config("synthetic_for_tests", ("acc", "macs")))
    subnet = agent.supernet.encoding.vector_to_dict([0] * 12)
    agent.estimate(subnet)
    first = agent.supernet
    agent.conf.dynas.supernet = "tiny_for_reconfig"
    with pytest.raises(ConfigError, match="tiny_for_reconfig"):
        agent.search()  # checked when the search starts
    agent.conf.dynas.supernet = "synthetic_for_tests"
    agent.conf.dynas.batch_size = 2
    agent.search()
    assert agent.supernet is not first  # measuring started afresh, with the new batch size


def test_a_refused_attribute_changes_nothing(in_tmp, dynas_config):
    agent = NAS(dynas_config("synthetic_for_tests", ("acc", "macs"), num_evals=11))
    agent.search()
    with pytest.raises(ConfigError, match="metrics of the recorded results"):
        agent.metrics = ["acc", "lat"]
    assert agent.conf.dynas.metrics == ["acc", "macs"] and agent.metric_names == ["accuracy_top1", "macs"]
