"""accuracy_top1 (BatchNorm recalibration + top-1) and latency measurement."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from torch import nn
from torchvision import datasets, transforms

from neural_nas.errors import ConfigError
from neural_nas.measurements.accuracy import AccuracyEvaluator, top1_accuracy
from neural_nas.measurements.latency import measure_latency
from tests.image_data import make_image_folder

SMALL = {"image_size": 32, "resize": 36}
N_CLASSES, N_TRAIN, N_VAL = 3, 4, 2


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("imgs"), n_classes=N_CLASSES, n_train=N_TRAIN, n_val=N_VAL)


def bn_net() -> nn.Module:
    """BatchNorm first, so its running statistics are those of the normalised input images."""
    return nn.Sequential(
        nn.BatchNorm2d(3),
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, N_CLASSES),
    )


def reference_batches(root, split, batch_size):
    """The evaluation pipeline written independently with torchvision's ImageFolder."""
    tf = transforms.Compose(
        [
            transforms.Resize(36),
            transforms.CenterCrop(32),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    return list(torch.utils.data.DataLoader(datasets.ImageFolder(root / split, tf), batch_size=batch_size))


@pytest.fixture
def open_log(monkeypatch):
    """Paths passed to PIL.Image.open."""
    log, real_open = [], PIL.Image.open

    def counting_open(fp, *args, **kwargs):
        log.append(str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counting_open)
    return log


def test_bn_stats_are_the_average_over_calibration_batches(data):
    model = bn_net()
    first = model[0]
    first.running_mean.fill_(5.0)
    first.running_var.fill_(7.0)
    # All 12 train images, eval transform, 3 equal batches of 4.
    ev = AccuracyEvaluator(data, calibration_size=100, eval_batch_size=4, calib_augment=False, **SMALL)
    acc = ev.evaluate(model)
    assert 0.0 <= acc <= 100.0
    batches = [x for x, _ in reference_batches(data, "train", 4)]
    expected_mean = torch.cat(batches).mean(dim=(0, 2, 3))
    expected_var = torch.stack([x.transpose(0, 1).reshape(3, -1).var(dim=1) for x in batches]).mean(dim=0)
    torch.testing.assert_close(first.running_mean, expected_mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(first.running_var, expected_var, rtol=1e-4, atol=1e-4)
    assert int(first.num_batches_tracked) == 3
    assert first.momentum == 0.1 and model[2].momentum == 0.1
    assert not model.training and not first.training


def test_augmented_calibration_is_seeded_and_fixed(data):
    def stats(seed, model=None):
        model = model or bn_net()
        AccuracyEvaluator(data, calibration_size=6, eval_batch_size=3, seed=seed, **SMALL).recalibrate(model)
        return model[0].running_mean.clone()

    torch.testing.assert_close(stats(1), stats(1))
    assert not torch.allclose(stats(1), stats(2))
    # The same evaluator calibrates on the same pixels every time (augmentation drawn once).
    ev = AccuracyEvaluator(data, calibration_size=6, eval_batch_size=3, seed=np.random.default_rng(3), **SMALL)
    model = bn_net()
    ev.recalibrate(model)
    first = model[0].running_mean.clone()
    ev.recalibrate(model)
    torch.testing.assert_close(model[0].running_mean, first)


class ChannelArgmax(nn.Module):
    """Predicts the class whose index is the brightest channel: outputs known from the inputs alone."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class Constant(nn.Module):
    def __init__(self, label: int) -> None:
        super().__init__()
        self.label = label

    def forward(self, x):
        return nn.functional.one_hot(torch.full((len(x),), self.label), N_CLASSES).float()


def test_top1_matches_hand_computed(data):
    ev = AccuracyEvaluator(data, eval_batch_size=4, **SMALL)
    assert ev.evaluate(Constant(1)) == pytest.approx(100.0 / N_CLASSES)
    correct = total = 0
    for x, y in reference_batches(data, "val", 4):
        correct += int((x.mean(dim=(2, 3)).argmax(1) == y).sum())
        total += len(y)
    assert total == N_CLASSES * N_VAL
    assert ev.evaluate(ChannelArgmax()) == pytest.approx(100.0 * correct / total)


def test_top1_accuracy_function():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 0, 1])
    assert top1_accuracy(nn.Identity(), [(logits[:3], labels[:3]), (logits[3:], labels[3:])]) == 75.0


def test_test_fraction_is_a_fixed_seeded_subset(data, open_log):
    def val_opened(fraction, seed):
        open_log.clear()
        ev = AccuracyEvaluator(data, calibration_size=1, test_fraction=fraction, seed=seed, **SMALL)
        ev.evaluate(Constant(0))
        assert ev.n_val == len({p for p in open_log if "val" in p})
        return frozenset(p for p in open_log if "val" in p)

    assert len(val_opened(1.0, 0)) == N_CLASSES * N_VAL
    half = val_opened(0.5, 0)
    assert len(half) == N_CLASSES * N_VAL // 2
    assert val_opened(0.5, 0) == half
    assert len({val_opened(0.5, s) for s in range(6)}) > 1


def test_images_are_decoded_once_across_evaluations(data, open_log):
    ev = AccuracyEvaluator(data, calibration_size=100, eval_batch_size=4, **SMALL)
    accs = []
    for _ in range(3):
        torch.manual_seed(0)  # same init each time; the evaluator itself never reads global RNG state
        model = bn_net()
        accs.append(ev.evaluate(model))
    assert len(open_log) == N_CLASSES * (N_TRAIN + N_VAL)
    assert len(set(accs)) == 1


def test_streaming_fallback_gives_the_same_result(data, open_log):
    results = []
    for budget in (1024, 0):
        open_log.clear()
        torch.manual_seed(0)
        model = bn_net()
        ev = AccuracyEvaluator(data, calibration_size=7, eval_batch_size=3, cache_budget_mb=budget, **SMALL)
        acc = (ev.evaluate(model), ev.evaluate(model))
        results.append((acc, model[0].running_mean.clone(), len(open_log)))
    (acc_c, mean_c, opens_c), (acc_s, mean_s, opens_s) = results
    assert acc_c == acc_s
    torch.testing.assert_close(mean_c, mean_s)
    assert opens_c == 7 + N_CLASSES * N_VAL
    assert opens_s == 2 * opens_c  # streamed: decoded on every call


@pytest.mark.parametrize("layout", ["missing", "no_val", "empty_train"])
def test_bad_dataset_path(tmp_path, layout):
    if layout == "no_val":
        make_image_folder(tmp_path, n_classes=1, n_train=1, n_val=0)
        (tmp_path / "val" / "class_0").rmdir()
        (tmp_path / "val").rmdir()
    elif layout == "empty_train":
        make_image_folder(tmp_path, n_classes=2, n_train=0, n_val=1)
    path = tmp_path / "nowhere" if layout == "missing" else tmp_path
    ev = AccuracyEvaluator(path, **SMALL)
    with pytest.raises(ConfigError, match="nas.dynas.dataset_path") as info:
        ev.evaluate(Constant(0))
    assert isinstance(info.value, ValueError)
    assert "train/ and val/" in str(info.value)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, "half"])
def test_bad_test_fraction(data, fraction):
    with pytest.raises(ConfigError, match="nas.dynas.test_fraction.*\\(0, 1\\]"):
        AccuracyEvaluator(data, test_fraction=fraction)


def test_bad_batch_size(data):
    with pytest.raises(ConfigError, match="nas.dynas.eval_batch_size"):
        AccuracyEvaluator(data, eval_batch_size=0)


def test_ofa_mobilenetv3_subnet(data):
    import ofa.imagenet_classification.elastic_nn.networks as ofa_nets

    torch.manual_seed(0)
    supernet = ofa_nets.OFAMobileNetV3(
        n_classes=N_CLASSES, width_mult=1.2, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4]
    )
    supernet.set_active_subnet(ks=3, e=3, d=2)
    subnet = supernet.get_active_subnet(preserve_weight=True)
    bn = next(m for m in subnet.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    acc = AccuracyEvaluator(data, calibration_size=6, eval_batch_size=3, **SMALL).evaluate(subnet)
    assert 0.0 <= acc <= 100.0
    assert not torch.allclose(bn.running_mean, before)
    mean, std = measure_latency(subnet, batch_size=2, image_size=32, warmup=1, steps=2)
    assert mean > 0 and std >= 0


def test_latency_positive():
    mean, std = measure_latency(bn_net(), batch_size=2, image_size=32, warmup=1, steps=3)
    assert mean > 0.0 and std >= 0.0
    with pytest.raises(ConfigError, match="batch_size"):
        measure_latency(bn_net(), batch_size=0)


def test_channels_last_matches_default_layout(data):
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = bn_net()
        ev = AccuracyEvaluator(data, calibration_size=6, eval_batch_size=3, channels_last=channels_last, **SMALL)
        results.append((ev.evaluate(model), model[2].running_mean.clone()))
        assert model[1].weight.is_contiguous()  # the caller's layout is restored
    assert results[0][0] == results[1][0]
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-4, atol=1e-4)
