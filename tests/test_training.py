"""Built-in train/eval functions from the YAML `train:` / `evaluation:` sections."""

from __future__ import annotations

import copy

import pytest
import torch

from neural_nas.errors import ConfigError
from neural_nas.training import (
    build_eval_func,
    build_train_func,
    criterion_registry,
    dataset_registry,
    optimizer_registry,
)
from neural_nas.training._params import build_entry, choice, int_list, integer, number, number_pair, parse_section


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: extra intra-op threads only add contention (seconds, on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def dummy_set(n=16, shape=(4,), **extra):
    return {"dummy": {"shape": [n, *shape], "num_classes": 3, **extra}}


def train_section(dataset=None, **top):
    section = {
        "epoch": 1,
        "optimizer": {"SGD": {"learning_rate": 0.1, "momentum": 0.9}},
        "criterion": {"CrossEntropyLoss": {"reduction": "mean"}},
        "dataloader": {"batch_size": 4, "shuffle": True, "dataset": dataset or dummy_set()},
    }
    section.update(top)
    return section


def eval_section(dataset=None, topk=1, **accuracy):
    return {
        "accuracy": {
            "metric": {"topk": topk},
            "dataloader": {"batch_size": 8, "dataset": dataset or dummy_set()},
            **accuracy,
        }
    }


class Linear(torch.nn.Module):
    """A 4 -> 3 classifier that counts its forward calls and records the mode it ran in."""

    def __init__(self, inputs=4, classes=3):
        super().__init__()
        self.fc = torch.nn.Linear(inputs, classes)
        self.calls, self.modes = 0, set()

    def forward(self, x):
        self.calls += 1
        self.modes.add((self.training, torch.is_grad_enabled()))
        return self.fc(x.flatten(1))


def linear(seed=0, **kwargs):
    torch.manual_seed(seed)
    return Linear(**kwargs)


def digits_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 4 * 4, 10),
    )


# --- datasets ---------------------------------------------------------------------------------------------------


def test_dummy_dataset_shape_range_labels_and_determinism():
    kwargs = {"shape": [10, 3, 5, 5], "low": -2.0, "high": 3.0, "num_classes": 4, "seed": 7}
    data = build_entry(dataset_registry, "dummy", kwargs, "d")
    again = build_entry(dataset_registry, "dummy", kwargs, "d")
    assert len(data) == 10
    samples = [data[i][0] for i in range(10)]
    assert all(s.shape == (3, 5, 5) and s.dtype == torch.float32 for s in samples)
    stacked = torch.stack(samples)
    assert stacked.min() >= -2.0 and stacked.max() <= 3.0 and stacked.std() > 0.5
    assert {data[i][1] for i in range(10)} <= set(range(4))
    assert all(torch.equal(data[i][0], again[i][0]) and data[i][1] == again[i][1] for i in range(10))
    assert not torch.equal(data[0][0], data[1][0])
    # Reference behaviour: without num_classes the label is 0; label false gives bare inputs; dtype is applied.
    plain = build_entry(dataset_registry, "dummy", {"shape": [2, 3], "dtype": "int64", "high": 9}, "d")
    assert plain[0][1] == 0 and plain[0][0].dtype == torch.int64
    assert isinstance(build_entry(dataset_registry, "dummy", {"shape": [2, 3], "label": False}, "d")[0], torch.Tensor)
    with pytest.raises(IndexError):
        data[10]


def test_image_folder_dataset(tmp_path):
    from PIL import Image

    for label, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        folder = tmp_path / f"class_{label}"
        folder.mkdir()
        for i in range(3):
            Image.new("RGB", (12, 10), colour).save(folder / f"{i}.png")
    resized = build_entry(dataset_registry, "ImageFolder", {"root": str(tmp_path), "image_size": 8}, "d")
    assert len(resized) == 6 and resized[0][0].shape == (3, 8, 8) and resized[5][1] == 1
    raw = build_entry(dataset_registry, "imagefolder", {"root": str(tmp_path)}, "d")
    assert raw[0][0].shape == (3, 10, 12) and float(raw[0][0][0].min()) == 1.0  # ToTensor only: red is 1.0
    # The red/blue classes are told apart by a fixed "model" that scores the red and blue channel means.
    section = eval_section({"ImageFolder": {"root": str(tmp_path), "image_size": 8}})
    score = build_eval_func(section)(
        torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), _FixedLinear([[1.0, 0, 0], [0, 0, 1.0]]))
    )
    assert score == 1.0


class _FixedLinear(torch.nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(weight))

    def forward(self, x):
        return x @ self.weight.T


def test_digits_split_is_disjoint_stratified_and_deterministic():
    def split(name, **kw):
        return build_entry(dataset_registry, "digits", {"split": name, **kw}, "d")

    train, test, full = split("train"), split("test"), split("all")
    assert len(full) == 1797
    assert set(train.indices).isdisjoint(test.indices)
    assert set(train.indices) | set(test.indices) == set(range(1797))
    assert len(test) == pytest.approx(0.25 * 1797, abs=1)
    assert train.indices == split("train").indices
    assert test.indices != split("test", seed=1).indices
    assert len(split("test", test_size=0.5)) == pytest.approx(1797 / 2, abs=1)
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    labels = torch.tensor([test[i][1] for i in range(len(test))])
    assert torch.bincount(labels).min() >= 40  # stratified: every class well represented in the held-out part


def test_user_registered_dataset_is_checked_against_its_signature():
    @dataset_registry("tiny")  # for this test only: tests/conftest.py scopes every registry
    def tiny(n: int, width: int = 4):
        return torch.utils.data.TensorDataset(torch.ones(n, width), torch.zeros(n, dtype=torch.long))

    assert build_eval_func(eval_section({"tiny": {"n": 5}}))(linear()) in (0.0, 1.0)
    with pytest.raises(ConfigError) as err:
        build_eval_func(eval_section({"tiny": {"n": 5, "widht": 4}}))
    assert err.value.key == "evaluation.accuracy.dataloader.dataset.tiny.widht"
    assert "did you mean 'width'" in str(err.value)
    with pytest.raises(ConfigError) as err:
        build_eval_func(eval_section({"tiny": {}}))
    assert err.value.key == "evaluation.accuracy.dataloader.dataset.tiny.n"


# --- optimizers and criteria ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "settings", "cls", "expected"),
    [
        (
            "SGD",
            {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
            torch.optim.SGD,
            {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
        ),
        (
            "Adam",
            {"learning_rate": "1e-3", "beta_1": 0.8, "epsilon": 1e-7},
            torch.optim.Adam,
            {"lr": 1e-3, "betas": (0.8, 0.999), "eps": 1e-7, "weight_decay": 0.0},
        ),
        (
            "adamw",
            {"learning_rate": 0.002, "weight_decay": 0.05, "betas": [0.85, 0.99]},
            torch.optim.AdamW,
            {"lr": 0.002, "betas": (0.85, 0.99), "weight_decay": 0.05},
        ),
    ],
)
def test_each_optimizer_maps_reference_keys_and_trains(name, settings, cls, expected):
    optimizer = build_entry(optimizer_registry, name, settings, "o", [torch.nn.Parameter(torch.zeros(1))])
    assert type(optimizer) is cls
    assert {k: optimizer.defaults[k] for k in expected} == expected
    model = linear()
    before = copy.deepcopy(model.state_dict())
    build_train_func(train_section(optimizer={name: settings}))(model)
    assert not torch.equal(before["fc.weight"], model.fc.weight.detach())


def test_bare_names_take_the_defaults():
    section = train_section("digits", optimizer="Adam", criterion="CrossEntropyLoss")
    section["dataloader"]["batch_size"] = 64
    model = linear(inputs=64, classes=10)
    build_train_func(section)(model)
    assert model.calls == 22  # ceil(1347 / 64) batches of the default train split
    with pytest.raises(ConfigError) as err:
        build_train_func(train_section(optimizer="SGD"))  # SGD has no default learning rate, as in the reference
    assert err.value.key == "train.optimizer.SGD.learning_rate"


def test_criterion_reduction_none_still_trains():
    criterion = build_entry(criterion_registry, "CrossEntropyLoss", {"reduction": "none"}, "c")
    assert criterion.reduction == "none"
    model = linear()
    before = model.fc.weight.detach().clone()
    build_train_func(train_section(criterion={"CrossEntropyLoss": {"reduction": "none"}}))(model)
    assert not torch.equal(before, model.fc.weight.detach())


# --- training and evaluation ------------------------------------------------------------------------------------


def test_a_small_cnn_learns_digits():
    train = train_section({"digits": {"split": "train"}}, epoch=2, optimizer={"Adam": {"learning_rate": 0.01}})
    train["dataloader"]["batch_size"] = 32
    evaluate = build_eval_func(eval_section({"digits": {"split": "test"}}))
    model = digits_cnn()
    assert evaluate(model) < 0.3
    build_train_func(train)(model)
    assert evaluate(model) > 0.85  # chance is 0.1, on images never trained on


def test_same_seed_same_weights_and_global_rng_untouched():
    section = train_section(epoch=2)
    weights = []
    for seed in (3, 3, 4):
        model = linear()
        torch.manual_seed(123)
        state = torch.random.get_rng_state()
        build_train_func(section, seed=seed)(model)
        assert torch.equal(torch.random.get_rng_state(), state)  # the user's global stream is not consumed
        weights.append(model.fc.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])  # the seed drives the shuffle order
    # One built function trains every candidate identically (datasets built once, order reset per call).
    train_func = build_train_func(section, seed=3)
    first, second = linear(), linear()
    train_func(first)
    train_func(second)
    assert torch.equal(first.fc.weight, second.fc.weight) and torch.equal(first.fc.weight, weights[0])


@pytest.mark.parametrize(
    ("top", "calls"),
    [
        ({"epoch": 2, "iteration": 3}, 6),  # 16 samples / batch 4 = 4 batches, capped at 3
        ({"epoch": 2, "iteration": -1}, 8),
        ({"start_epoch": 1, "end_epoch": 4}, 12),
        ({}, 4),  # default: one epoch
        ({"epoch": 1, "iteration": 10}, 4),
    ],
)
def test_epochs_and_iteration_cap(top, calls):
    section = train_section()
    section.pop("epoch")
    section.update(top)
    model = linear()
    build_train_func(section)(model)
    assert model.calls == calls and model.modes == {(True, True)}


def test_no_rollover_drops_short_last_batch():
    section = train_section(dummy_set(n=10))
    section["dataloader"]["last_batch"] = "no_rollover"
    model = linear()
    build_train_func(section)(model)
    assert model.calls == 2


def test_eval_topk_eval_mode_and_no_grad():
    data = build_entry(dataset_registry, "dummy", dummy_set(n=40)["dummy"], "d")
    labels = torch.tensor([data[i][1] for i in range(len(data))])
    model = linear()
    with torch.no_grad():  # a constant ranking: class 0 > class 1 > class 2
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([2.0, 1.0, 0.0]))
    model.train()
    scores = [build_eval_func(eval_section(dummy_set(n=40), topk=k))(model) for k in (1, 2, 3)]
    assert scores == [(labels == 0).sum().item() / 40, (labels <= 1).sum().item() / 40, 1.0]
    assert 0 < scores[0] < scores[1] < 1
    assert model.modes == {(False, False)}
    capped = linear()
    build_eval_func(eval_section(dummy_set(n=40), iteration=2))(capped)
    assert capped.calls == 2
    with pytest.raises(ConfigError, match="evaluation.accuracy.metric.topk"):
        build_eval_func(eval_section(topk=5))(linear())  # more than the 3 classes


# --- malformed sections: one ConfigError naming the full key, raised when building ------------------------------


def _set(path, value):
    def mutate(section):
        *parents, last = path.split(".")
        node = section
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()

BAD_TRAIN = [
    (_set("optimizer", {"SDG": {"learning_rate": 0.1}}), "train.optimizer", "did you mean 'sgd'"),
    (_set("optimizer.SGD.lr", 0.1), "train.optimizer.SGD.lr", "did you mean 'learning_rate'"),
    (
        _set("optimizer.SGD.learning_rate", "fast"),
        "train.optimizer.SGD.learning_rate",
        "a number in the range (0.0, inf)",
    ),
    (_set("optimizer.SGD.learning_rate", -0.1), "train.optimizer.SGD.learning_rate", "(0.0, inf)"),
    (_set("optimizer.SGD.nesterov", "yes"), "train.optimizer.SGD.nesterov", "true or false"),
    (_set("optimizer", {"SGD": {"learning_rate": 0.1, "nesterov": True}}), "train.optimizer.SGD.nesterov", "momentum"),
    (_set("optimizer", {"SGD": {}}), "train.optimizer.SGD.learning_rate", "required"),
    (_set("optimizer", {"Adam": {"betas": [0.9, 0.99], "beta_1": 0.9}}), "train.optimizer.Adam.betas", "beta_1"),
    (_set("optimizer", {"Adam": {}, "SGD": {}}), "train.optimizer", "exactly one"),
    (_set("criterion", {"CrossEntropy": {}}), "train.criterion", "did you mean 'crossentropyloss'"),
    (
        _set("criterion.CrossEntropyLoss.reduction", "avg"),
        "train.criterion.CrossEntropyLoss.reduction",
        "one of 'none', 'mean', 'sum'",
    ),
    (_set("dataloader", _DELETE), "train.dataloader", "required"),
    (_set("dataloader.dataset", _DELETE), "train.dataloader.dataset", "required"),
    (_set("dataloader.batch_size", 0), "train.dataloader.batch_size", "an int in the range [1, inf)"),
    (_set("dataloader.batch_size", 2.5), "train.dataloader.batch_size", "an int in the range [1, inf)"),
    (_set("dataloader.shuffle", 1), "train.dataloader.shuffle", "true or false"),
    (_set("dataloader.batchsize", 4), "train.dataloader.batchsize", "did you mean 'batch_size'"),
    (_set("dataloader.dataset", {"dumy": {"shape": [4, 4]}}), "train.dataloader.dataset", "did you mean 'dummy'"),
    (
        _set("dataloader.dataset", {"dummy": {"shape": [0, 4]}}),
        "train.dataloader.dataset.dummy.shape",
        "each an int in the range [1, inf)",
    ),
    (
        _set("dataloader.dataset", {"dummy": {"shape": [4, 4], "low": 2, "high": 1}}),
        "train.dataloader.dataset.dummy.high",
        ">= low",
    ),
    (
        _set("dataloader.dataset", {"dummy": {"shape": [4, 4], "label": False}}),
        "train.dataloader.dataset.dummy",
        "label: true",
    ),
    (
        _set("dataloader.dataset", {"digits": {"split": "val"}}),
        "train.dataloader.dataset.digits.split",
        "one of 'train', 'test', 'all'",
    ),
    (
        _set("dataloader.dataset", {"digits": {"test_size": 1.5}}),
        "train.dataloader.dataset.digits.test_size",
        "(0.0, 1.0)",
    ),
    (
        _set("dataloader.dataset", {"ImageFolder": {"root": "/no/such/dir"}}),
        "train.dataloader.dataset.ImageFolder.root",
        "existing directory",
    ),
    (_set("epoch", 0), "train.epoch", "null or an int in the range [1, inf)"),
    (_set("epochs", 2), "train.epochs", "did you mean 'epoch'"),
    (_set("end_epoch", 3), "train.epoch", "end_epoch - start_epoch"),
    (_set("iteration", 0), "train.iteration", "-1"),
    (lambda s: s.update(start_epoch=2, end_epoch=2), "train.end_epoch", "> start_epoch"),
]


@pytest.mark.parametrize(("mutate", "key", "message"), BAD_TRAIN, ids=[b[1] + ":" + b[2] for b in BAD_TRAIN])
def test_malformed_train_section(mutate, key, message):
    section = train_section(dummy_set())
    mutate(section)
    with pytest.raises(ConfigError) as err:
        build_train_func(section)
    assert err.value.key == key
    assert message in str(err.value)


BAD_EVAL = [
    (_set("accuracy", _DELETE), "evaluation.accuracy", "required"),
    (_set("accuracy.metric", {"topk": 0}), "evaluation.accuracy.metric.topk", "an int in the range [1, inf)"),
    (_set("accuracy.metric", {"top_k": 1}), "evaluation.accuracy.metric.top_k", "did you mean 'topk'"),
    (
        _set("accuracy.dataloader.batch_size", -1),
        "evaluation.accuracy.dataloader.batch_size",
        "an int in the range [1, inf)",
    ),
    (_set("accuracy.dataloader", "digits"), "evaluation.accuracy.dataloader", "a mapping"),
    (
        _set("accuracy.dataloader.dataset", {"digits": {"seed": "x"}}),
        "evaluation.accuracy.dataloader.dataset.digits.seed",
        "an int",
    ),
]


@pytest.mark.parametrize(("mutate", "key", "message"), BAD_EVAL, ids=[b[1] + ":" + b[2] for b in BAD_EVAL])
def test_malformed_evaluation_section(mutate, key, message):
    section = eval_section()
    mutate(section)
    with pytest.raises(ConfigError) as err:
        build_eval_func(section)
    assert err.value.key == key
    assert message in str(err.value)


PARAM_TABLE = {
    "n": integer(1, default=None),
    "lr": number(0.0, low_open=True),
    "mode": choice(("mean", "sum")),
    "pair": number_pair(0.0, 1.0, default=None),
    "shape": int_list(1, default=[1]),
}


def test_param_conversions():
    values = parse_section({"n": None, "lr": "1e-3", "mode": "MEAN", "pair": ["0.9", 0.5]}, PARAM_TABLE, "s")
    assert values == {"n": None, "lr": 1e-3, "mode": "mean", "pair": (0.9, 0.5), "shape": [1]}
    assert type(parse_section({"lr": 2, "mode": "sum"}, PARAM_TABLE, "s")["lr"]) is float


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("n", True),
        ("n", 0),
        ("n", 1.0),
        ("lr", float("inf")),
        ("lr", "nan"),
        ("lr", False),
        ("mode", "avg"),
        ("pair", [0.5]),
        ("shape", [2, 0]),
    ],
)
def test_param_rejections(key, value):
    with pytest.raises(ConfigError) as err:
        parse_section({"lr": 0.1, "mode": "sum", key: value}, PARAM_TABLE, "s")
    assert err.value.key == f"s.{key}" and err.value.allowed == PARAM_TABLE[key].allowed


def test_bad_device_and_non_mapping_sections():
    with pytest.raises(ConfigError) as err:
        build_train_func(train_section(), device="gpu0")
    assert err.value.key == "device"
    with pytest.raises(ConfigError) as err:
        build_train_func(["SGD"])
    assert err.value.key == "train"
    with pytest.raises(ConfigError) as err:
        build_eval_func(eval_section(), device="tpu:0")
    assert err.value.key == "device"
