"""Basic NAS measured by the built-in trainer from the YAML `train:` / `evaluation:` sections (SPEC §5)."""

import json

import pytest
import torch
import yaml

from neural_nas import NAS
from neural_nas.errors import ConfigError

DIGITS_YAML = """
model:
  name: digits_cnn
  framework: pytorch
device: cpu
nas:
  approach: basic
  search:
    search_space: {channels: [4, 8], depth: [1, 2]}
    search_algorithm: grid
    max_trials: 2
    seed: 3
train:
  epoch: 2
  optimizer:
    Adam: {learning_rate: 0.01}
  criterion:
    CrossEntropyLoss: {reduction: mean}
  dataloader:
    batch_size: 64
    shuffle: true
    dataset:
      digits: {split: train}
evaluation:
  accuracy:
    metric: {topk: 1}
    dataloader:
      batch_size: 128
      dataset:
        digits: {split: test}
"""


def cnn(arch):
    layers, ch = [], 1
    for _ in range(arch["depth"]):
        layers += [torch.nn.Conv2d(ch, arch["channels"], 3, padding=1), torch.nn.ReLU()]
        ch = arch["channels"]
    return torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(ch * 64, 10))


def write(tmp_path, text):
    path = tmp_path / "nas.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("entry", ["call", "search"])
def test_yaml_train_and_eval_on_digits(in_tmp, entry):
    path = write(in_tmp, DIGITS_YAML)
    agent = NAS(path, model_builder=cnn)
    front = agent() if entry == "call" else agent.search()
    assert len(agent.search_results) == 2
    accuracies = [m["metric"] for m in agent.search_results.values()]
    assert all(0.5 < a <= 1.0 for a in accuracies), accuracies  # trained: far above chance (0.1)
    assert front and all(arch in [{"channels": 4, "depth": 1}, {"channels": 4, "depth": 2}] for arch in front)
    assert (in_tmp / "nas.yaml").read_text() == DIGITS_YAML  # never rewritten


def test_dummy_dataset_and_untrained_eval(in_tmp):
    document = yaml.safe_load(DIGITS_YAML)
    document["train"]["dataloader"]["dataset"] = {"dummy": {"shape": [32, 1, 8, 8], "label": True}}
    document["evaluation"]["accuracy"]["dataloader"]["dataset"] = {
        "dummy": {"shape": [16, 1, 8, 8], "low": 0.0, "high": 1.0, "label": True}
    }
    document["nas"]["search"]["max_trials"] = 1
    agent = NAS(write(in_tmp, yaml.safe_dump(document)), model_builder=cnn)
    agent.search()
    record = json.loads((in_tmp / "NASResults" / "results.jsonl").read_text())
    assert 0.0 <= record["metrics"]["metric"] <= 1.0


def test_user_functions_take_precedence_over_the_sections(in_tmp):
    agent = NAS(write(in_tmp, DIGITS_YAML), model_builder=cnn)
    agent.train_func = lambda model: None
    agent.eval_func = lambda model: 0.123
    agent.search()
    assert set(m["metric"] for m in agent.search_results.values()) == {0.123}


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("Adam: {learning_rate: 0.01}", "Adamm: {learning_rate: 0.01}", "train.optimizer"),
        ("Adam: {learning_rate: 0.01}", "Adam: {learning_rate: fast}", "train.optimizer.Adam.learning_rate"),
        ("topk: 1", "topk: 0", "evaluation.accuracy.metric.topk"),
        ("batch_size: 128", "batch_size: 0", "evaluation.accuracy.dataloader.batch_size"),
        ("digits: {split: test}", "digitz: {split: test}", "evaluation.accuracy.dataloader.dataset"),
    ],
)
def test_bad_sections_fail_before_any_training(in_tmp, old, new, key):
    agent = NAS(write(in_tmp, DIGITS_YAML.replace(old, new)), model_builder=cnn)
    with pytest.raises(ConfigError) as info:
        agent.search()
    assert info.value.key == key
    assert not (in_tmp / "NASResults" / "results.jsonl").exists()


BAD_SECTIONS = [
    ("Adam: {learning_rate: 0.01}", "Adamm: {learning_rate: 0.01}", "train.optimizer"),
    ("Adam: {learning_rate: 0.01}", "Adam: {learning_rat: 0.01}", "train.optimizer.Adam"),
    ("epoch: 2", "epochs: 2", "train"),
    ("topk: 1", "topk: 0", "evaluation.accuracy.metric.topk"),
    ("digits: {split: test}", "digitz: {split: test}", "evaluation.accuracy.dataloader.dataset"),
    ("search_algorithm: grid", "search_algorithm: bayes", "nas.search.search_algorithm"),
]


@pytest.mark.parametrize(("old", "new", "key"), BAD_SECTIONS)
def test_check_config_refuses_what_search_refuses(in_tmp, capsys, old, new, key):
    from neural_nas.cli import main

    assert main(["check-config", write(in_tmp, DIGITS_YAML)]) == 0
    bad = write(in_tmp, DIGITS_YAML.replace(old, new))
    assert main(["check-config", bad]) == 2
    assert key in capsys.readouterr().err
    agent = NAS(bad, model_builder=cnn)
    with pytest.raises(ConfigError) as info:
        agent.search()
    assert info.value.key.startswith(key)
