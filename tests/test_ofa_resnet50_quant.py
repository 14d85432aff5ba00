"""`inc_quantization_ofa_resnet50`: OFA ResNet-50 searched with a per-layer post-training quantization policy.

Random-initialised weights, a generated ImageFolder and small images (the test subclass measures 32x32 images; the
quantized graph and the stored tensors do not depend on the image size).
"""

import csv
import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neural_nas import NAS
from neural_nas.errors import ConfigError
from neural_nas.measurements.quantization import int8_layers, quantized_engine, select_engine
from neural_nas.measurements.quantized import QuantizedSubnetMeasurer
from neural_nas.results.dynast_csv import ResultsCsv
from neural_nas.supernets import create_supernet, supernet_registry
from neural_nas.supernets.ofa_resnet50_quant import OFAResNet50Quant
from tests.image_data import make_image_folder


def state_nbytes(state):
    """Bytes of the tensors a state dict stores (int8 weights with their per-channel scales and zero points)."""
    total = 0
    for value in state.values():
        if isinstance(value, torch.Tensor):
            total += value.nelement() * value.element_size()
            if value.is_quantized and value.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
                scales, zeros = value.q_per_channel_scales(), value.q_per_channel_zero_points()
                total += scales.nelement() * scales.element_size() + zeros.nelement() * zeros.element_size()
    return total


def saved_size(model):
    """Bytes of ``torch.save(model.state_dict())``: what the reference measures (its saved file)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


NAME = "inc_quantization_ofa_resnet50"
SHARED_CSV = Path(__file__).resolve().parent / "data" / "inc_dynas_notebook_results" / "results_ofa_resnet50_quant.csv"
HEADER = "Sub-network,Date,Model Parameters,Latency (ms),Model Size,Top-1 Acc (%)"
BITS = slice(29, 29 + 61)  # columns of q_bits in a choice-index vector (index 0: 8 bits, 1: 32 bits)
MODES = slice(29 + 61, 29 + 122)


class SmallImages(OFAResNet50Quant):
    """The same super-network measuring 32x32 images (what ResNet-50 on two shared cores allows in a test)."""

    name = "small_quant_for_tests"
    image_size = 32


def largest_layer_names():
    """The reference's 61 quantizable layers of the largest sub-network, in gene order."""
    names = ["input_stem.0.conv", "input_stem.1.conv.conv", "input_stem.2.conv"]
    for block in range(18):
        names += [f"blocks.{block}.conv{i}.conv" for i in (1, 2, 3)]
        if block in (0, 4, 8, 14):  # the first block of each stage (4, 4, 6, 4 blocks at the largest depth)
            names.append(f"blocks.{block}.downsample.conv")
    return names


def reference_mask(d):
    """The reference's layer mask of a depth gene, spelled out: stem [conv, residual conv if d[0] is 2, conv]; per
    stage the first block's four convolutions, the other base blocks' three, two optional blocks of three."""
    mask = [True, d[0] == 2, True]
    for stage, base in enumerate((2, 2, 4, 2)):
        mask += [True] * 4 + [True] * 3 * (base - 1)
        for extra in range(2):
            mask += [extra < d[1 + stage]] * 3
    return mask


@pytest.fixture(scope="module")
def loaded():
    supernet = SmallImages()
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    return supernet


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("imagenet"), n_classes=3, n_train=4, n_val=2, size=40)


def quantized(supernet, vector, size=32):
    subnet = supernet.encoding.vector_to_dict(vector)
    module = supernet.active_subnet(subnet)
    calibration = [torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))]
    return supernet.quantize(module, subnet, calibration), supernet.quantizable_layers(module), supernet.policy(subnet)


# --- genes, tables, results files -------------------------------------------------------------------------------


def test_genes_metrics_and_defaults_are_the_reference_s():
    supernet = create_supernet(NAME)
    assert isinstance(supernet, OFAResNet50Quant)
    assert {name: (spec["count"], spec["vars"]) for name, spec in supernet.encoding.params.items()} == {
        "d": (5, [0, 1, 2]),
        "e": (18, [0.2, 0.25, 0.35]),
        "w": (6, [0, 1, 2]),
        "q_bits": (61, [8, 32]),
        "q_weights_mode": (61, ["symmetric", "asymmetric"]),
    }
    assert supernet.metrics == ("accuracy_top1", "model_size", "params", "latency")
    assert supernet.csv_metrics == ("params", "latency", "model_size", "accuracy_top1")
    assert supernet.inner_evals == 10000 and supernet.canonical_metric("acc") == "accuracy_top1"
    assert set(supernet.exact_metric_names) == {"params", "model_size"}


def test_layer_masks_follow_the_reference_for_every_depth():
    supernet = create_supernet(NAME)
    depths = np.array(list(itertools.product(range(3), repeat=5)))
    vectors = np.zeros((len(depths), supernet.encoding.n_genes), np.int64)
    vectors[:, :5] = depths  # d values are their indices
    active = supernet.active_layers(vectors)
    assert active.shape == (243, 61)
    assert active.tolist() == [reference_mask(d) for d in depths.tolist()]


def test_genes_map_to_the_sub_network_s_layers_in_order(loaded):
    largest = loaded.encoding.dict_to_vector({"d": [2] * 5, "e": [0.35] * 18, "w": [2] * 6, **all_bits(8)})
    module = loaded.active_subnet(loaded.encoding.vector_to_dict(largest))
    assert loaded.quantizable_layers(module) == largest_layer_names()
    for vector in loaded.encoding.random_vectors(4, rng=5):
        subnet = loaded.encoding.vector_to_dict(vector)
        names = loaded.quantizable_layers(loaded.active_subnet(subnet))
        assert len(names) == int(loaded.active_layers(vector).sum()) == len(loaded.policy(subnet))


def all_bits(bits, mode="symmetric"):
    return {"q_bits": [bits] * 61, "q_weights_mode": [mode] * 61}


def test_params_are_ofa_resnet50_s_and_features_ignore_genes_that_do_nothing():
    quant, float_net = create_supernet(NAME), create_supernet("ofa_resnet50")
    vectors = quant.encoding.random_vectors(50, rng=2)
    assert np.array_equal(quant.exact_metrics(vectors)["params"], float_net.exact_metrics(vectors[:, :29])["params"])
    # Policy genes of a dropped layer, or the weight mode of a float layer, change nothing: same features
    v = vectors[0].copy()
    v[:5] = 0  # smallest depth: the stem's residual block and the optional blocks are dropped
    dropped = np.flatnonzero(~quant.active_layers(v)[0])
    w = v.copy()
    w[BITS.start + dropped] ^= 1
    w[MODES.start + dropped] ^= 1
    float_layer = np.flatnonzero(quant.active_layers(v)[0] & (v[BITS] == 1))[0]
    w[MODES.start + float_layer] ^= 1
    assert np.array_equal(quant.features(v), quant.features(w))
    assert np.array_equal(quant.canonical(v), quant.canonical(w))  # one network: measured once
    assert np.array_equal(quant.exact_metrics(v)["model_size"], quant.exact_metrics(w)["model_size"])
    int8_layer = np.flatnonzero(quant.active_layers(v)[0] & (v[BITS] == 0))[0]
    w[MODES.start + int8_layer] ^= 1  # the weight mode of an int8 layer matters
    assert not np.array_equal(quant.features(v), quant.features(w))
    assert not np.array_equal(quant.canonical(v), quant.canonical(w))
    canonical = quant.canonical(vectors)
    assert np.array_equal(quant.canonical(canonical), canonical)
    assert np.array_equal(quant.features(canonical), quant.features(vectors))
    for name in ("params", "model_size"):
        assert np.array_equal(quant.exact_metrics(canonical)[name], quant.exact_metrics(vectors)[name])


def test_number_of_distinct_networks():
    """Per depth gene: the expansion choices of the blocks kept, the widths, and per quantizable layer kept three
    effective choices (int8 symmetric, int8 asymmetric, float); d[0] 0 and 1 are the same network."""
    quant = create_supernet(NAME)
    expected = 0
    for d in itertools.product(range(3), repeat=5):
        if d[0] == 1:
            continue  # the same networks as d[0] = 0
        kept_blocks = sum(base + 2 - (2 - depth) for base, depth in zip((2, 2, 4, 2), d[1:]))
        expected += 3**kept_blocks * 3**6 * 3 ** sum(reference_mask(list(d)))
    assert quant.n_networks() == expected


def test_shared_csv_loads_as_earlier_results():
    supernet = create_supernet(NAME)
    rows = ResultsCsv(SHARED_CSV).read(supernet.parse_record)
    assert len(rows) == 500
    assert all(set(row.metrics) == {"accuracy_top1", "latency"} for row in rows[1:5])  # params, size: 0 (unmeasured)
    assert 76.4 < min(r.metrics["accuracy_top1"] for r in rows) < max(r.metrics["accuracy_top1"] for r in rows) < 79.9
    # The record we write is the reference's literal, key for key
    with open(SHARED_CSV, newline="") as f:
        literals = [row[0] for row in list(csv.reader(f))[1:]]
    assert [repr(supernet.subnet_record(row.subnet)) for row in rows] == literals


def test_the_reference_s_measurements_confirm_which_genes_do_nothing():
    """The shared file holds 500 rows but 477 networks: 22 groups of rows whose canonical forms agree (they differ only
    in genes of dropped layers or blocks, or in the weight mode of float layers). The reference measured 20 of them
    with exactly the same top-1, hours apart; the other two (the same depth gene and the same four genes apart, all
    four without effect in the reference's own code) differ by 0.14 and 0.20 points. A wrong gene-to-layer order
    would merge rows of different networks: their top-1 would differ as much as any two networks'."""
    supernet = create_supernet(NAME)
    rows = ResultsCsv(SHARED_CSV).read(supernet.parse_record)
    vectors = np.stack([supernet.encoding.dict_to_vector(r.subnet) for r in rows])
    groups = {}
    for canonical, row in zip(map(tuple, supernet.canonical(vectors)), rows):
        groups.setdefault(canonical, []).append(row.metrics["accuracy_top1"])
    merged = [accuracies for accuracies in groups.values() if len(accuracies) > 1]
    assert len(groups) == 477 and len(merged) == 22 and sum(len(a) - 1 for a in merged) == 23
    spreads = sorted(max(a) - min(a) for a in merged)
    assert spreads[:20] == [0] * 20 and max(spreads) < 0.25
    accuracies = np.array([row.metrics["accuracy_top1"] for row in rows])
    assert np.median(np.abs(accuracies[:, None] - accuracies[None, :])) > 0.4  # any two networks: far more apart


def test_a_search_resumes_from_the_shared_csv_without_measuring(in_tmp, dynas_config, monkeypatch):
    (in_tmp / "results.csv").write_bytes(SHARED_CSV.read_bytes())

    def no_measurement(self, subnet):
        raise AssertionError("measured a sub-network")

    monkeypatch.setattr(QuantizedSubnetMeasurer, "__call__", no_measurement)
    # 477 distinct networks (see above) count as 477 measurements
    c = dynas_config(NAME, ("acc", "model_size"), num_evals=477, results_csv_path="results.csv", pretrained=False)
    agent = NAS(c)
    agent.search()
    front = agent.find_best_model_archs()
    assert front and all(set(s) >= {"q_bits", "q_weights_mode"} for s in front)
    assert (in_tmp / "results.csv").read_bytes() == SHARED_CSV.read_bytes()


# --- the quantized model ----------------------------------------------------------------------------------------


def test_int8_kernels_exactly_where_the_policy_says_8_bits_and_sizes_are_exact(loaded):
    vectors = loaded.encoding.random_vectors(3, rng=7)
    every = vectors[0].copy()
    every[BITS] = 0
    none = vectors[1].copy()
    none[BITS] = 1
    vectors = np.vstack([vectors, every, none])
    sizes = loaded.exact_metrics(vectors)["model_size"]
    with quantized_engine(select_engine()):
        for vector, size in zip(vectors, sizes):
            model, layers, policy = quantized(loaded, vector)
            int8 = [name for name, (bits, _) in zip(layers, policy) if bits == 8]
            assert sorted(int8_layers(model)) == sorted(int8)
            modules = dict(model.named_modules())
            for name, (bits, mode) in zip(layers, policy):
                if bits == 8:  # int8 weights, per output channel, in the gene's scheme (symmetric: zero points 0)
                    weight = modules[name].weight()
                    assert weight.dtype == torch.qint8 and weight.q_per_channel_axis() == 0
                    zero_points = weight.q_per_channel_zero_points()
                    assert (zero_points == 0).all() == (mode == "symmetric"), name
                else:  # float: a float convolution (fused with its ReLU, BatchNorm folded in)
                    conv = modules[name][0] if isinstance(modules[name], torch.nn.Sequential) else modules[name]
                    assert type(conv) is torch.nn.Conv2d and conv.weight.dtype == torch.float32
            quantize_ops = [n for n in model.graph.nodes if n.target is torch.quantize_per_tensor]
            assert (len(quantize_ops) > 0) == (len(int8) > 0)
            assert model(torch.randn(2, 3, 32, 32)).shape == (2, 1000)
            # model_size: exactly the bytes of the tensors the quantized model stores; the saved file adds only its
            # container (the reference measures the file)
            assert round(size * 1e6) == state_nbytes(model.state_dict())
            assert 0 < saved_size(model) - size * 1e6 < 0.005 * size * 1e6 + 2e5


def test_policy_genes_outside_the_table_are_refused_before_any_work(loaded):
    subnet = loaded.encoding.vector_to_dict(loaded.encoding.random_vectors(1, rng=0)[0])
    for gene, value in (("q_bits", 4), ("q_weights_mode", "per_tensor")):
        bad = {**subnet, gene: [value] + subnet[gene][1:]}
        with pytest.raises(ConfigError, match=gene):
            loaded.parse_record(bad)
        fresh = SmallImages()  # not loaded: any extraction would fail with another error
        measurer = QuantizedSubnetMeasurer(
            fresh,
            ["latency"],
            engine=select_engine(),
            calibration_samples=2,
            batch_size=1,
            latency_warmup=0,
            latency_steps=1,
        )
        with pytest.raises(ConfigError, match=gene):
            measurer(bad)


def test_a_missing_int8_back_end_is_one_clear_error_before_any_measurement(in_tmp, dynas_config, monkeypatch):
    from neural_nas.measurements import quantization

    with pytest.raises(ConfigError, match=r"x86, fbgemm.*pip install torch"):
        quantization.select_engine(["qnnpack", "none"])
    assert quantization.select_engine(["qnnpack", "fbgemm"]) == "fbgemm"

    monkeypatch.setattr(type(torch.backends.quantized), "supported_engines", property(lambda self: ["qnnpack"]))
    agent = NAS(dynas_config(NAME, ("model_size", "latency"), pretrained=False, results_csv_path="r.csv"))
    with pytest.raises(ConfigError, match="quantization back end.*qnnpack"):
        agent.search()
    assert not (in_tmp / "r.csv").exists() or (in_tmp / "r.csv").read_text().count("\n") <= 1


@pytest.mark.parametrize("problem", ["no dataset", "no calibration images", "more quantization than BatchNorm images"])
def test_calibration_images_missing_is_one_clear_error_before_any_measurement(in_tmp, dynas_config, problem):
    root = make_image_folder(in_tmp / "data", n_classes=2, n_train=2, n_val=1, size=16)
    settings = {"dataset_path": str(root), "calibration_size": 4, "mp_calibration_samples": 2}
    if problem == "no dataset":
        settings["dataset_path"] = None
    elif problem == "no calibration images":
        for image in (root / "train").rglob("*.jpg"):
            image.unlink()
    else:
        settings["mp_calibration_samples"] = 5
    agent = NAS(dynas_config(NAME, ("acc", "model_size"), pretrained=False, results_csv_path="r.csv", **settings))
    match = {"no dataset": "dataset_path", "no calibration images": "no images found under"}
    with pytest.raises(ConfigError, match=match.get(problem, "mp_calibration_samples")):
        agent.search()
    assert not (in_tmp / "r.csv").exists() or (in_tmp / "r.csv").read_text().count("\n") <= 1


# --- searches ---------------------------------------------------------------------------------------------------


def small_search(register_supernet, dynas_config, images, metrics, **settings):
    register_supernet(SmallImages)
    defaults = {
        "dataset_path": str(images),
        "pretrained": False,
        "calibration_size": 6,
        "mp_calibration_samples": 4,
        "eval_batch_size": 8,
        "num_workers": 0,
        "batch_size": 1,
        "latency_warmup": 1,
        "latency_steps": 2,
        "results_csv_path": "results.csv",
    }
    return dynas_config("small_quant_for_tests", metrics, inner_evals=50, **{**defaults, **settings})


def test_a_search_on_accuracy_and_model_size_writes_and_resumes_the_csv(
    in_tmp, images, dynas_config, register_supernet, monkeypatch
):
    calls = []
    measure = QuantizedSubnetMeasurer.__call__

    def counted(self, subnet):
        calls.append(repr(subnet))
        return measure(self, subnet)

    monkeypatch.setattr(QuantizedSubnetMeasurer, "__call__", counted)
    c = small_search(register_supernet, dynas_config, images, ("acc", "model_size"), num_evals=11)
    assert len(NAS(c).search()) == 10
    lines = (in_tmp / "results.csv").read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 12 and len(calls) == 11 == len(set(calls))
    supernet = supernet_registry.get("small_quant_for_tests")()
    rows = ResultsCsv(in_tmp / "results.csv").read(supernet.parse_record)
    exact = supernet.exact_metrics(np.stack([supernet.encoding.dict_to_vector(r.subnet) for r in rows]))
    for row, params, size in zip(rows, exact["params"], exact["model_size"]):
        assert set(row.metrics) == {"params", "model_size", "accuracy_top1"}  # latency not searched: 0
        assert row.metrics["params"] == params and row.metrics["model_size"] == pytest.approx(size, rel=1e-12)
        assert 0 <= row.metrics["accuracy_top1"] <= 100
        assert row.metrics["accuracy_top1"] * 3 == pytest.approx(round(row.metrics["accuracy_top1"] * 3))  # of 6
    before = (in_tmp / "results.csv").read_bytes()

    calls.clear()
    NAS(c).search()  # finished: resumes, measures nothing
    assert calls == [] and (in_tmp / "results.csv").read_bytes() == before
    c.dynas.num_evals = 12
    NAS(c).search()  # one more
    assert len(calls) == 1 and (in_tmp / "results.csv").read_bytes().startswith(before)
    assert len((in_tmp / "results.csv").read_text().splitlines()) == 13


def int8_top1_measurer(supernet, images):
    """An int8 top-1 measurer on the generated folder (4 calibration images) and its accuracy evaluator."""
    from neural_nas.measurements.accuracy import AccuracyEvaluator

    evaluator = AccuracyEvaluator(images, calibration_size=6, eval_batch_size=4, num_workers=0, image_size=32)
    measurer = QuantizedSubnetMeasurer(
        supernet,
        ["accuracy_top1"],
        engine=select_engine(),
        calibration_samples=4,
        batch_size=1,
        latency_warmup=0,
        latency_steps=1,
        accuracy_evaluator=evaluator,
    )
    return measurer, evaluator


def test_top1_is_measured_on_the_int8_model_after_batchnorm_recalibration(loaded, images):
    measurer, evaluator = int8_top1_measurer(loaded, images)
    subnet = loaded.encoding.vector_to_dict(loaded.encoding.random_vectors(1, rng=11)[0])
    result = measurer(subnet)
    assert set(result) == {"params", "model_size", "accuracy_top1"}
    assert set(measurer.last_timings) >= {"extract_s", "recalibrate_s", "quantize_s", "validate_s"}
    module = loaded.active_subnet(subnet)
    int8 = [name for name, (bits, _) in zip(loaded.quantizable_layers(module), loaded.policy(subnet)) if bits == 8]
    with quantized_engine(select_engine()):
        assert sorted(int8_layers(measurer.quantized_model(subnet).module)) == sorted(int8)
    # The same evaluation by hand: recalibrated float sub-network, quantized on the first 4 calibration images
    evaluator.recalibrate(module)
    with quantized_engine(select_engine()):
        model = loaded.quantize(module, subnet, evaluator.calibration_images(4))
        assert evaluator.validate(model) == result["accuracy_top1"]


def test_more_int8_layers_give_a_smaller_model_and_lower_latency_on_average(loaded):
    """Same architectures, most layers int8 versus most layers float: smaller pair by pair, and faster on average
    (64x64 images; each pair timed back to back, so a change in the machine's load hits both; the figures on this CPU:
    benchmarks/RESULTS.md)."""
    from neural_nas.measurements.latency import measure_latency

    rng = np.random.default_rng(3)
    archs = loaded.encoding.random_vectors(4, rng=rng)
    mostly = []
    for share in (0.9, 0.1):
        vectors = archs.copy()
        vectors[:, BITS] = (rng.random((len(archs), 61)) >= share).astype(np.int64)  # index 0 is 8 bits
        mostly.append(vectors)
    sizes = [loaded.exact_metrics(v)["model_size"] for v in mostly]
    assert (sizes[0] < sizes[1]).all()
    latencies = np.zeros((2, len(archs)))
    calibration = [torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))]
    with quantized_engine(select_engine()):
        for i in range(len(archs)):
            for k in (0, 1):
                subnet = loaded.encoding.vector_to_dict(mostly[k][i])
                model = loaded.quantize(loaded.active_subnet(subnet), subnet, calibration)
                latencies[k, i] = measure_latency(model, batch_size=2, image_size=64, warmup=2, steps=7)[0]
    assert latencies[0].mean() < latencies[1].mean()


# --- the notebook -----------------------------------------------------------------------------------------------

NOTEBOOK = (
    Path(__file__).resolve().parents[1] / "examples/notebook/dynas/ResNet50_Quantization_Search_Supernet_NAS.ipynb"
)


def test_notebook_is_stored_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_on_generated_data_at_reduced_size(tmp_path, monkeypatch):
    """The reference notebook's flow: one predictor-guided loop after the first population (224 px, random weights)."""
    import nbclient
    import nbformat

    monkeypatch.delenv("IMAGENET_PATH", raising=False)
    monkeypatch.setenv("NAS_POPULATION", "10")
    monkeypatch.setenv("NAS_NUM_EVALS", "11")  # one predictor-guided measurement after the first 10
    monkeypatch.setenv("NAS_INNER_EVALS", "200")
    monkeypatch.setenv("NAS_RESULTS_CSV", "results.csv")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel is a child process: one torch thread, as the tests
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()

    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 12
    supernet = create_supernet(NAME)
    rows = ResultsCsv(tmp_path / "results.csv").read(supernet.parse_record)
    assert len({repr(r.subnet) for r in rows}) == 11
    exact = supernet.exact_metrics(np.stack([supernet.encoding.dict_to_vector(r.subnet) for r in rows]))
    for row, size in zip(rows, exact["model_size"]):
        assert row.metrics["latency"] > 0 and 0 <= row.metrics["accuracy_top1"] <= 100
        assert row.metrics["model_size"] == pytest.approx(size, rel=1e-12)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "11 sub-networks measured" in printed and "measured Pareto front:" in printed
    assert (tmp_path / "pareto_front.png").stat().st_size > 10_000


def test_int8_top1_races_over_the_validation_images(loaded, images, racing_check):
    measurer, evaluator = int8_top1_measurer(loaded, images)
    subnet = loaded.encoding.vector_to_dict(loaded.encoding.random_vectors(1, rng=11)[0])
    _, stopped = racing_check(measurer, subnet, "accuracy_top1", beyond=101.0)
    assert stopped.of == evaluator.n_val


def test_the_int8_model_in_standard_operators_runs_in_torch_export_and_onnxruntime(loaded, tmp_path):
    """`to_qdq`: the converted int8 model as quantize/dequantize steps around float convolutions; the same outputs,
    and exportable (the packed int8 modules are not)."""
    import copy

    import onnx
    import onnxruntime

    from neural_nas.measurements.quantization import to_qdq

    vector = loaded.encoding.random_vectors(1, rng=11)[0]
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with quantized_engine(select_engine()):
        int8, _, policy = quantized(loaded, vector)
        assert any(bits == 8 for bits, _ in policy) and any(bits == 32 for bits, _ in policy)
        with torch.no_grad():
            expected = int8(x)
            qdq = to_qdq(copy.deepcopy(int8))
            assert torch.allclose(qdq(x), expected, atol=1e-6)
    assert not int8_layers(qdq)  # no packed int8 module is left
    batch = torch.export.Dim("batch")
    program = torch.export.export(qdq, (x,), dynamic_shapes=({0: batch},))
    with torch.no_grad():
        assert torch.allclose(program.module()(x[:2]), expected[:2], atol=1e-6)
    path = tmp_path / "int8.onnx"
    torch.onnx.export(qdq, (x,), str(path), dynamo=True, dynamic_shapes=({0: batch},), external_data=False)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    (logits,) = onnxruntime.InferenceSession(str(path)).run(None, {"x": x.numpy()})
    scale = max(1.0, float(expected.abs().max()))
    assert np.abs(logits - expected.numpy()).max() <= 1e-3 * scale


class FileClassifier(torch.nn.Module):
    """An exported file's run, images -> logits, as a module the accuracy evaluator validates (it sets eval mode,
    which an exported program's module refuses)."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def forward(self, images):
        return self.run(images)


def onnx_run(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    return lambda images: torch.from_numpy(session.run(None, {"images": images.numpy()})[0])


INT8_WITHOUT_THE_LIBRARY = """
import importlib, json, sys
sys.modules["neural_nas"] = None  # importing the library now fails
import numpy as np, onnxruntime, torch
folder, x = sys.argv[1], torch.from_numpy(np.load(sys.argv[2]))
for name in json.load(open(folder + "/subnet.json"))["graphs"]["subnet"].get("torch_imports", []):
    importlib.import_module(name)
with torch.no_grad():
    outputs = [
        torch.export.load(folder + "/subnet.pt2").module()(x).numpy(),
        onnxruntime.InferenceSession(folder + "/subnet.onnx").run(None, {"images": x.numpy()})[0],
    ]
print(json.dumps([o.tolist() for o in outputs]))
"""


def calm_checkpoint(path, gain=0.2):
    """Random weights whose residual branches are scaled down (the last BatchNorm of each block), as a trained
    ResNet's are: int8 rounding differences then fade instead of growing from layer to layer as they do through
    plain random weights. Written as a checkpoint, read back by the configured-weights path."""
    supernet = SmallImages()
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    state = supernet.model.state_dict()
    for key in state:
        if key.endswith("conv3.bn.bn.weight"):
            state[key] = state[key] * gain
    torch.save(state, path)
    return str(path)


def test_export_writes_the_int8_model_with_the_search_s_top1_and_model_size(
    in_tmp, images, dynas_config, register_supernet
):
    """The exported files compute the int8 model the search measured: top-1 on the generated folder within one
    validation image of the search's (docs/after_search.md: a logit within the parity tolerance of a tie may flip),
    QDQ operators in the ONNX file, and file sizes within 10 % of the model_size metric."""
    import onnx

    from neural_nas.export import load_subnet
    from neural_nas.measurements.accuracy import AccuracyEvaluator

    weights = calm_checkpoint(in_tmp / "calm.pt")
    c = small_search(
        register_supernet, dynas_config, images, ("acc", "model_size"), num_evals=3, supernet_ckpt_path=weights
    )
    agent = NAS(c)
    agent.search()
    choice, files = agent.export(in_tmp / "out", by="max:acc", formats="pt2,onnx")
    card = json.loads(files["description"].read_text())
    assert "int8" in card["input"]["model"]
    bits = [bits for bits, _ in agent.supernet.policy(agent.supernet.parse_record(choice.arch))]  # active layers
    searched = choice.metrics["accuracy_top1"]

    evaluator = AccuracyEvaluator(images, calibration_size=6, eval_batch_size=8, num_workers=0, image_size=32)
    one_image = 100 / 6
    program = torch.export.load(str(files["pt2"])).module()
    assert abs(evaluator.validate(FileClassifier(program.forward)) - searched) <= one_image
    assert abs(evaluator.validate(FileClassifier(onnx_run(files["onnx"]))) - searched) <= one_image
    ops = {node.op_type for node in onnx.load(str(files["onnx"])).graph.node}
    assert ({"QuantizeLinear", "DequantizeLinear"} <= ops) == (8 in bits)
    for kind in ("pt2", "onnx"):
        size = files[kind].stat().st_size / 1e6
        assert card["file_megabytes"][kind] == pytest.approx(size, abs=1e-6)
        assert size == pytest.approx(choice.metrics["model_size"], rel=0.1)

    # Both files run where importing the library fails, after the imports the card names
    assert card["graphs"]["subnet"]["torch_imports"] == ["torch.ao.quantization.fx._decomposed"]
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    np.save(in_tmp / "x.npy", x.numpy())
    out = subprocess.run(
        [sys.executable, "-c", INT8_WITHOUT_THE_LIBRARY, str(files["description"].parent), str(in_tmp / "x.npy")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with torch.no_grad():
        expected = program(x).numpy()
    for got in json.loads(out):
        assert np.abs(np.array(got) - expected).max() <= 0.05 * max(1.0, np.abs(expected).max())

    # subnet.pt keeps the float sub-network the library rebuilds (the int8 ranges come from calibration images)
    float_module = load_subnet(files["weights"])
    assert not int8_layers(float_module)
    with pytest.raises(ConfigError, match="int8 model"):
        agent.supernet.export_graphs(float_module)
