"""The embedded super-network ``ofa_mbv3_digits``: shipped weights, built-in data, measurements, a search on it."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neural_nas import NAS, NASConfig
from neural_nas.errors import ConfigError
from neural_nas.measurements.counting import count_macs_params
from neural_nas.supernets import SuperNetwork, create_supernet, supernet_registry
from neural_nas.supernets.ofa_digits import IMAGE_SIZE, WEIGHTS_PATH, OFADigitsSuperNetwork, digits_split

NAME = "ofa_mbv3_digits"


@pytest.fixture(scope="module")
def loaded() -> OFADigitsSuperNetwork:
    supernet = create_supernet(NAME)
    supernet.load(pretrained=True, ckpt_path=None, device="cpu")
    return supernet


def extremes(supernet: SuperNetwork) -> tuple[dict, dict]:
    enc = supernet.encoding
    return enc.vector_to_dict(np.zeros(enc.n_genes, dtype=np.int64)), enc.vector_to_dict(enc.cardinalities - 1)


def test_registered_with_mbv3_genes() -> None:
    assert NAME in supernet_registry.names()
    supernet = create_supernet(NAME)
    assert isinstance(supernet, OFADigitsSuperNetwork) and supernet.name == NAME
    assert supernet.encoding.params == {
        "ks": {"count": 12, "vars": [3, 5, 7]},
        "e": {"count": 12, "vars": [3, 4, 6]},
        "d": {"count": 4, "vars": [1, 2, 3]},
    }
    assert set(supernet.metrics) == {"accuracy_top1", "macs", "params", "latency"}
    assert supernet.image_size == IMAGE_SIZE == 16
    assert type(supernet).measure is not SuperNetwork.measure  # its data are built in
    vector = supernet.encoding.random_vectors(1, 0)[0]
    subnet = supernet.encoding.vector_to_dict(vector)
    record = supernet.subnet_record(subnet)
    assert record["wid"] is None and record["r"] == [IMAGE_SIZE]
    assert supernet.parse_record(str(record)) == subnet
    assert supernet.features(vector[None, :]).shape[0] == 1


def test_import_needs_no_torch() -> None:
    code = "import sys, neural_nas.supernets.ofa_digits; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_weights_file_is_small_plain_tensors() -> None:
    assert WEIGHTS_PATH.is_file()
    assert WEIGHTS_PATH.stat().st_size <= 3 * 2**20
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    model = create_supernet(NAME).seeded_build()
    assert set(state) == set(model.state_dict())
    assert all(state[k].shape == v.shape for k, v in model.state_dict().items())


def test_loaded_weights_are_float32_and_not_random(loaded: OFADigitsSuperNetwork) -> None:
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    for key, value in loaded.model.state_dict().items():
        if value.is_floating_point():
            assert value.dtype == torch.float32
            assert torch.equal(value, state[key].float()), key


def test_held_out_split_is_fixed_and_disjoint() -> None:
    x_train, y_train, x_test, y_test = digits_split()
    assert len(x_train) + len(x_test) == 1797 and len(y_test) == len(x_test) == 540
    train_rows = {row.tobytes() for row in x_train}
    assert sum(row.tobytes() in train_rows for row in x_test) < 5  # the digits data hold a few duplicate images
    assert np.bincount(y_test).min() >= 50  # stratified


def test_trade_off_between_smallest_and_largest(loaded: OFADigitsSuperNetwork) -> None:
    smallest, largest = extremes(loaded)
    small = loaded.measure(smallest, ["accuracy_top1", "macs"])
    large = loaded.measure(largest, ["accuracy_top1", "macs"])
    # capacity pays: the front a search finds spans a real range of top-1 (issue 14: at least 10 points)
    assert large["accuracy_top1"] >= small["accuracy_top1"] + 10.0
    assert large["accuracy_top1"] >= 85.0  # a distorted task; chance is 10 %
    assert large["macs"] >= 3 * small["macs"]
    assert large["params"] > small["params"]


def test_measurement_is_repeatable_and_exact(loaded: OFADigitsSuperNetwork) -> None:
    enc = loaded.encoding
    subnet = enc.vector_to_dict(enc.random_vectors(1, 3)[0])
    metrics = ["accuracy_top1", "macs", "params", "latency"]
    first, second = loaded.measure(subnet, metrics), loaded.measure(subnet, metrics)
    assert set(metrics) <= set(first)
    assert first["accuracy_top1"] == second["accuracy_top1"]
    assert 0.0 <= first["accuracy_top1"] <= 100.0 and first["latency"] > 0
    macs, params = count_macs_params(loaded.active_subnet(subnet), (1, 3, IMAGE_SIZE, IMAGE_SIZE))
    assert (first["macs"], first["params"]) == (macs, params)
    # Only exact metrics asked for: no model needed.
    assert create_supernet(NAME).measure(subnet, ["macs"]) == {"macs": macs, "params": params}


def test_exact_metrics_match_counting(loaded: OFADigitsSuperNetwork) -> None:
    enc = loaded.encoding
    vectors = np.vstack([np.zeros(enc.n_genes, dtype=np.int64), enc.random_vectors(3, 1), enc.cardinalities - 1])
    exact = loaded.exact_metrics(vectors)
    for i, vector in enumerate(vectors):
        macs, params = count_macs_params(
            loaded.active_subnet(enc.vector_to_dict(vector)), (1, 3, IMAGE_SIZE, IMAGE_SIZE)
        )
        assert (exact["macs"][i], exact["params"][i]) == (macs, params)


def test_measuring_leaves_global_rngs_alone(loaded: OFADigitsSuperNetwork) -> None:
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    fresh = create_supernet(NAME)  # loads itself on first measurement
    fresh.measure(loaded.encoding.vector_to_dict(loaded.encoding.random_vectors(1, 5)[0]), ["accuracy_top1", "latency"])
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_ckpt_path_overrides_and_random_init(tmp_path: Path, loaded: OFADigitsSuperNetwork) -> None:
    state = {
        k: torch.zeros_like(v) if k.endswith("classifier.linear.weight") else v
        for k, v in loaded.model.state_dict().items()
    }
    path = tmp_path / "other.pt"
    torch.save(state, path)
    other = create_supernet(NAME)
    other.load(pretrained=True, ckpt_path=str(path), device="cpu")
    assert not other.model.classifier.linear.weight.any()

    random_init = create_supernet(NAME)
    random_init.load(pretrained=False, ckpt_path=None, device="cpu")
    assert not torch.equal(random_init.model.classifier.linear.weight, loaded.model.classifier.linear.weight)

    with pytest.raises(ConfigError):
        create_supernet(NAME).load(pretrained=True, ckpt_path=str(tmp_path / "missing.pt"), device="cpu")
    partial = tmp_path / "partial.pt"
    torch.save({k: v for k, v in state.items() if "classifier" not in k}, partial)
    with pytest.raises(ConfigError):
        create_supernet(NAME).load(pretrained=True, ckpt_path=str(partial), device="cpu")


def test_small_search_runs_without_dataset_path(in_tmp: Path) -> None:
    config = NASConfig(approach="dynas")
    config.dynas.supernet = NAME
    config.dynas.metrics = ["acc", "macs"]
    config.dynas.population = 10
    config.dynas.num_evals = 20
    config.dynas.inner_evals = 500
    config.dynas.results_csv_path = str(in_tmp / "digits.csv")
    assert config.dynas.dataset_path is None
    agent = NAS(config)
    population = agent.search()
    assert len(population) == 10
    front = agent.find_best_model_archs()
    assert front
    with open(in_tmp / "digits.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20
    assert all(float(r["Top-1 Acc (%)"]) > 0 and float(r["MACs"]) > 0 for r in rows)
    assert all(f"'r': [{IMAGE_SIZE}]" in r["Sub-network"] for r in rows)
