"""After the search (issue 15): pick by constraints and objective, export a sub-network (weights-only file, TorchScript,
description), `neural-nas front` / `export` on files a search may still be writing."""

import copy
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from neural_nas import NASConfig
from neural_nas.cli import main
from neural_nas.errors import ConfigError
from neural_nas.export import load_subnet, save_subnet, standalone_subnet
from neural_nas.plotting import Results, load_results
from neural_nas.results.selection import Constraint, pick
from neural_nas.supernets import Encoding, SuperNetwork, create_supernet, supernet_registry

DATA = Path(__file__).resolve().parent / "data"
ALL_FORMATS = ("pt2", "onnx", "torchscript")
W10_CSV = DATA / "dynast_ofa_mbv3_w1.0" / "mbnv3w10_evoga_acc.csv"


def results():
    points = [
        {"accuracy_top1": 70.0, "macs": 100.0},
        {"accuracy_top1": 75.0, "macs": 300.0},
        {"accuracy_top1": 74.0, "macs": 150.0},  # the knee: nearly the best accuracy at half the MACs
        {"accuracy_top1": 75.0, "macs": 250.0},  # ties #2 on accuracy with fewer MACs
        {"accuracy_top1": 60.0, "macs": 400.0},  # dominated
    ]
    return Results(points, [{"a": [i]} for i in range(5)], ["accuracy_top1", "macs"], [True, False])


@pytest.mark.parametrize(
    ("where", "by", "number"),
    [
        ((), "knee", 3),
        ((), "max:acc", 4),  # a tie on accuracy goes to the row that is better on the other metrics
        ((), "min:macs", 1),
        (("macs<=200",), "max:accuracy_top1", 3),
        (("acc >= 74.5", "MACs < 280"), "knee", 4),  # an alias, a CSV header, spaces
        ((), "#5", 5),
    ],
)
def test_pick(where, by, number):
    choice = pick(results(), where, by)
    assert choice.number == number and choice.arch == {"a": [number - 1]}
    assert choice.metrics == results().points[number - 1] and choice.reason


@pytest.mark.parametrize(
    ("where", "by", "key", "says"),
    [
        (("macs<=50",), "knee", "--where", "closest rows: #1 accuracy_top1 70, macs 100"),
        (("energy<=5",), "knee", "--where", "a metric of these results (accuracy_top1, macs)"),
        (("macs<<5",), "knee", "--where", "METRIC OP NUMBER"),
        ((), "best", "--pick", "knee, max:METRIC, min:METRIC or #N"),
        ((), "#9", "--pick", "N from 1 to 5"),
        (("macs<=200",), "#2", "--pick", "a row that satisfies the constraints"),
    ],
)
def test_bad_choices_are_one_clear_error(where, by, key, says):
    with pytest.raises(ConfigError) as info:
        pick(results(), where, by)
    assert info.value.key == key and says in str(info.value)


def test_constraint_parsing():
    assert Constraint.parse(" Top-1 Acc (%) >= 7.5e1", ["accuracy_top1"]) == Constraint("accuracy_top1", ">=", 75.0)


# -- a model in hand -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    """One exported sub-network of the embedded super-network (its BatchNorm recalibrated on the bundled digits)."""
    out = tmp_path_factory.mktemp("export")
    config = NASConfig(approach="dynas")
    config.dynas.supernet, config.dynas.metrics = "ofa_mbv3_digits", ["acc", "macs"]
    supernet = create_supernet("ofa_mbv3_digits")
    subnet = supernet.encoding.vector_to_dict(np.ones(supernet.encoding.n_genes, dtype=int))
    module = standalone_subnet(config, subnet, supernet=supernet)
    files = save_subnet(
        module, supernet, subnet, out, metrics={"accuracy_top1": 1.0}, reason="a test", formats=ALL_FORMATS
    )
    return supernet, subnet, module, files


def test_the_exported_files_reproduce_the_extracted_sub_network(digits_export):
    supernet, subnet, module, files = digits_export
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module(x)
        assert torch.equal(load_subnet(files["weights"])(x), expected)
        assert torch.allclose(torch.export.load(files["pt2"]).module()(x), expected, atol=1e-5)
    payload = torch.load(files["weights"], weights_only=True)  # plain tensors and numbers: no pickle of objects
    assert payload["supernet"] == "ofa_mbv3_digits" and payload["subnet"]["ks"] == list(subnet["ks"])
    card = json.loads(files["description"].read_text())
    assert card["chosen_because"] == "a test" and card["metrics"] == {"accuracy_top1": 1.0}
    vector = supernet.encoding.dict_to_vector(subnet)[None, :]
    assert card["exact_metrics"] == {k: float(v[0]) for k, v in supernet.exact_metrics(vector).items()}
    assert card["graphs"]["subnet"]["inputs"] == [{"name": "images", "dtype": "float32", "shape": ["batch", 3, 16, 16]}]
    assert set(card["parity"]) == set(ALL_FORMATS)
    for fmt in ALL_FORMATS:
        parity = card["parity"][fmt]["subnet"]
        assert parity["inputs"] == 9 and 0 <= parity["max_abs_diff"] <= parity["tolerance"]
    assert {"torch", "onnx", "onnxruntime", "neural-nas"} <= set(card["versions"])


LOAD_WITHOUT_THE_LIBRARY = """
import sys, json
sys.modules["neural_nas"] = None  # importing the library now fails
import numpy as np, onnxruntime, torch
folder, x = sys.argv[1], torch.from_numpy(np.load(sys.argv[2]))
with torch.no_grad():
    outputs = [
        torch.export.load(folder + "/subnet.pt2").module()(x).numpy(),
        onnxruntime.InferenceSession(folder + "/subnet.onnx").run(None, {"images": x.numpy()})[0],
        torch.jit.load(folder + "/subnet.torchscript.pt")(x).numpy(),
    ]
print(json.dumps([o.tolist() for o in outputs]))
"""


def test_every_format_runs_where_the_library_cannot_be_imported(digits_export, tmp_path):
    _, _, module, files = digits_export
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))  # a batch size it was not traced on
    np.save(tmp_path / "x.npy", x.numpy())
    folder = str(files["weights"].parent)
    out = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_THE_LIBRARY, folder, str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with torch.no_grad():
        expected = module(x).numpy()
    for got in json.loads(out):
        assert np.allclose(np.array(got), expected, atol=1e-4)


def test_a_file_that_differs_from_its_module_is_an_export_error(tmp_path):
    """The parity check compares the file with the module: a file written from other weights fails it."""
    from neural_nas.errors import ExportError
    from neural_nas.export import formats

    supernet = create_supernet("ofa_mbv3_digits")
    supernet.load(pretrained=True, ckpt_path=None, device="cpu")
    subnet = supernet.encoding.vector_to_dict(np.ones(supernet.encoding.n_genes, dtype=int))
    torchscript = formats.format_registry.get("torchscript")

    def write_another(graph, path):
        other = copy.deepcopy(graph.module)
        with torch.no_grad():
            next(other.parameters()).mul_(3.0)
        torchscript.write(dataclasses.replace(graph, module=other), path)

    formats.register(dataclasses.replace(torchscript, name="other_weights", write=write_another))
    with pytest.raises(ExportError, match=r"subnet.torchscript.pt differs from the extracted sub-network by up to"):
        save_subnet(supernet.active_subnet(subnet), supernet, subnet, tmp_path, formats="other_weights")
    assert (tmp_path / "subnet.torchscript.pt").exists() and not (tmp_path / "subnet.json").exists()


def test_a_file_giving_nan_fails_its_parity_check(tmp_path):
    """NaN compares as no difference in max(): the check must still see it."""
    from neural_nas.errors import ExportError
    from neural_nas.export import formats

    torchscript = formats.format_registry.get("torchscript")

    def run_nan(path):
        run = torchscript.run(path)
        return lambda *inputs: [np.full_like(o, np.nan) for o in run(*inputs)]

    formats.register(dataclasses.replace(torchscript, name="nan_outputs", run=run_nan))
    supernet = create_supernet("ofa_mbv3_digits")
    supernet.load(pretrained=True, ckpt_path=None, device="cpu")
    subnet = supernet.encoding.vector_to_dict(np.ones(supernet.encoding.n_genes, dtype=int))
    with pytest.raises(ExportError, match="NaN or infinities"):
        save_subnet(supernet.active_subnet(subnet), supernet, subnet, tmp_path, formats="nan_outputs")


def test_an_unknown_format_is_refused_before_any_work(tmp_path):
    supernet = create_supernet("ofa_mbv3_digits")
    with pytest.raises(ConfigError, match="--format"):
        save_subnet(None, supernet, {}, tmp_path / "x", formats="tflite")
    assert not (tmp_path / "x").exists()


def test_the_exported_sub_network_keeps_its_measured_accuracy(digits_export):
    supernet, subnet, module, files = digits_export
    measured = supernet.measure(subnet, ["accuracy_top1"])["accuracy_top1"]
    assert supernet.accuracy(load_subnet(files["weights"])) == pytest.approx(measured)


class TinyTorchSpace(SuperNetwork):
    """A user's torch super-network: an MLP of elastic width, weights sliced from the widest."""

    name = "tiny_torch_space"
    encoding = Encoding({"width": {"count": 1, "vars": [4, 8]}})
    metrics = ("macs",)

    def load(self, *, pretrained, ckpt_path, device):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.full = torch.nn.Linear(3, 8)

    def active_subnet(self, subnet):
        width = subnet["width"][0]
        layer = torch.nn.Linear(3, width)
        layer.load_state_dict({"weight": self.full.weight[:width], "bias": self.full.bias[:width]})
        return torch.nn.Sequential(layer, torch.nn.ReLU())

    def example_inputs(self):
        return (torch.zeros(1, 3),)


def test_a_users_torch_super_network_exports_too(tmp_path):
    supernet_registry.register("tiny_torch_space", TinyTorchSpace)
    config = NASConfig(approach="dynas")
    config.dynas.supernet, config.dynas.metrics = "tiny_torch_space", ["macs"]
    module = standalone_subnet(config, {"width": [4]})  # no BatchNorm: no data set needed
    files = save_subnet(module, create_supernet("tiny_torch_space"), {"width": [4]}, tmp_path)
    x = torch.randn(2, 3)
    assert torch.equal(load_subnet(files["weights"])(x), module(x))
    with pytest.raises(ConfigError):
        standalone_subnet(config, {"width": [5]})  # not a sub-network of this super-network


# -- the command line ------------------------------------------------------------------------------------------------
def test_front_reads_complete_rows_only_and_never_touches_the_file(tmp_path, capsys):
    path = tmp_path / "growing.csv"
    text = W10_CSV.read_bytes()
    lines = text.splitlines(keepends=True)
    torn = b"".join(lines[:11]) + lines[11][: len(lines[11]) // 2]  # a writer stopped mid-row
    path.write_bytes(torn)
    assert main(["front", str(path), "--where", "macs<=3e8"]) == 0
    out = capsys.readouterr().out
    assert "of 10 measured" in out and path.read_bytes() == torn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["growing.csv"]  # no lock, no temporary file


def test_front_with_nothing_satisfying_is_exit_2_with_the_closest_rows(capsys):
    assert main(["front", str(W10_CSV), "--where", "macs<=1e6"]) == 2
    assert "closest rows: #" in capsys.readouterr().err


@pytest.fixture
def searched(in_tmp, capsys):
    small = ["--set", "dynas.num_evals=12", "--set", "dynas.population=10", "--set", "dynas.inner_evals=200"]
    assert main(["search", *small, "--no-plots", "-q"]) == 0
    out = capsys.readouterr().out
    csv_path, config = (
        in_tmp / "neural_nas_results" / "dynas_results.csv",
        in_tmp / "neural_nas_results" / "config.yaml",
    )
    assert f"neural-nas export {csv_path.relative_to(in_tmp)} --config {config.relative_to(in_tmp)}" in out
    return csv_path, config


def test_export_command(searched, capsys):
    csv_path, config = searched
    assert main(["export", str(csv_path), "--config", str(config), "--pick", "min:macs", "--out", "x", "-q"]) == 0
    out = capsys.readouterr().out
    assert "chosen: row #" in out and "the minimum macs among all 12 rows" in out
    description = json.loads(Path("x/subnet.json").read_text())
    rows = load_results(csv_path)
    assert description["metrics"]["macs"] == min(p["macs"] for p in rows.points)
    assert load_subnet("x/subnet.pt") is not None


def test_export_refuses_results_of_another_super_network(searched, in_tmp, capsys):
    _, config = searched
    shutil.copy(W10_CSV, "w10.csv")
    assert main(["export", "w10.csv", "--config", str(config), "--out", "x", "-q"]) == 2
    assert "ofa_mbv3_digits" in capsys.readouterr().err
    # the same genes, another super-network: its exact MACs give it away
    other = yaml.safe_load(config.read_text())
    other["nas"]["dynas"]["supernet"] = "ofa_mbv3_d234_e346_k357_w1.2"
    Path("w12.yaml").write_text(yaml.safe_dump(other))
    assert main(["export", "w10.csv", "--config", "w12.yaml", "--out", "x", "-q"]) == 2
    assert "another super-network" in capsys.readouterr().err
    assert not Path("x").exists()


@pytest.mark.parametrize("name", ["ofa_mbv3_d234_e346_k357_w1.0", "ofa_proxyless_d234_e346_k357_w1.3", "ofa_resnet50"])
def test_the_ofa_families_export_with_batchnorm_recalibrated_on_the_data_set(name, tmp_path):
    from tests.image_data import make_image_folder

    config = NASConfig(approach="dynas")
    config.dynas.supernet, config.dynas.metrics, config.dynas.pretrained = name, ["acc", "macs"], False
    config.dynas.calibration_size, config.dynas.eval_batch_size = 4, 4
    supernet = create_supernet(name)
    smallest = supernet.encoding.vector_to_dict(np.zeros(supernet.encoding.n_genes, dtype=int))
    with pytest.raises(ConfigError, match="nas.dynas.dataset_path"):  # BatchNorm needs data to be usable
        standalone_subnet(config, smallest, supernet=supernet)
    config.dynas.dataset_path = str(make_image_folder(tmp_path / "images", n_classes=2, n_train=4, n_val=1))
    module = standalone_subnet(config, smallest, supernet=supernet)
    bn = next(m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not torch.equal(bn.running_var, torch.ones_like(bn.running_var))  # statistics of the images
    files = save_subnet(module, supernet, smallest, tmp_path / "out")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(load_subnet(files["weights"])(x), module(x))
        assert torch.allclose(torch.export.load(files["pt2"]).module()(x), module(x), atol=1e-4)


def test_a_search_from_python_records_its_config_and_exports_from_it(in_tmp):
    """No YAML written by hand: the run records what it resolved beside the CSV, and export follows that record. A
    config.yaml of the user's in that folder is never taken for the record, nor overwritten."""
    from neural_nas import NAS
    from neural_nas.cli import DEFAULT_SEARCH
    from neural_nas.config import load_yaml
    from neural_nas.export import export_pick

    mine = "nas:\n  approach: dynas\n"
    (in_tmp / "config.yaml").write_text(mine)
    config = NASConfig.from_dict(DEFAULT_SEARCH)
    config.dynas.num_evals, config.dynas.population, config.dynas.inner_evals = 12, 10, 200
    agent = NAS(config)
    agent.search()
    assert (in_tmp / "config.yaml").read_text() == mine
    assert agent.config_record.resolve() == in_tmp / "config.2.yaml"
    choice, files = export_pick("dynas_results.csv", load_yaml(agent.config_record), "x", by="min:macs")
    assert choice.metrics["macs"] == min(t.metrics["macs"] for t in agent.study.trials)
    assert load_subnet(files["weights"]) is not None


def test_front_plot_and_export_check_alike_and_agree_on_exit_codes(searched, in_tmp, capsys):
    """A row export would refuse is refused by front and plot too; an empty file, or one without the metrics, is
    exit 2 for all three, and plot never says "written:" with nothing after it."""
    csv_path, config = searched
    with open(csv_path, "a") as f:  # a row of another super-network: the record beside the CSV names the digits net
        f.write(W10_CSV.read_text().splitlines()[1] + "\n")
    for command in (["front", str(csv_path)], ["plot", str(csv_path)]):
        assert main([*command, "-q"]) == 2
        assert "dynas_results.csv:14" in capsys.readouterr().err
    assert main(["export", str(csv_path), "--config", str(config), "--out", "x", "-q"]) == 2
    assert "dynas_results.csv:14" in capsys.readouterr().err

    Path("empty.csv").write_text("Sub-network,Date,Model Parameters,Latency (ms),MACs,Top-1 Acc (%)\n")
    shutil.copy(W10_CSV, "w10.csv")
    for command in (["front", "empty.csv"], ["plot", "empty.csv"], ["front", "w10.csv", "--metrics", "lat,macs"]):
        assert main([*command, "-q"]) == 2
        captured = capsys.readouterr()
        assert "written:" not in captured.out and "neural-nas: error:" in captured.err


def test_export_from_the_agent_or_the_results_alone_records_the_input_contract(in_tmp, capsys):
    """After a search from Python: agent.export, or the CLI with no --config (the record beside the CSV)."""
    from neural_nas import NAS
    from neural_nas.cli import DEFAULT_SEARCH

    config = NASConfig.from_dict(DEFAULT_SEARCH)
    config.dynas.num_evals, config.dynas.population, config.dynas.inner_evals = 12, 10, 200
    agent = NAS(config)
    agent.search()
    choice, files = agent.export("from_agent", by="max:acc")
    assert choice.metrics["accuracy_top1"] == max(t.metrics["accuracy_top1"] for t in agent.study.trials)
    description = json.loads(files["description"].read_text())
    assert description["input"]["inputs"] == "float32 images (N, 3, 16, 16)" and description["input"]["std"] == 0.38
    assert description["graphs"]["subnet"]["inputs"][0]["shape"] == ["batch", 3, 16, 16]
    assert set(description["parity"]) == {"pt2"}  # the default format
    assert main(["export", "dynas_results.csv", "--pick", "max:acc", "--out", "from_csv", "-q"]) == 0
    assert json.loads(Path("from_csv/subnet.json").read_text())["subnet"] == description["subnet"]
