"""``bert_base_sst2``: genes, exact MACs/params (every reference value), the elastic BERT, its checkpoint, SST-2 data
and a full search, on a generated vocabulary and dev split and a randomly initialised small BERT of the same code."""

import ast
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from neural_nas import NAS
from neural_nas.errors import ConfigError
from neural_nas.results.study import arch_key
from neural_nas.supernets import create_supernet
from neural_nas.supernets.text import BertSST2SuperNetwork, bert_encoding
from neural_nas.supernets.text.bert_model import BertClassifier, build_supernet, extract_subnet
from neural_nas.supernets.text.bert_shape import BERT_BASE, BertShape

DATA = Path(__file__).resolve().parent / "data" / "inc_dynas_notebook_results"
REFERENCE_CSV = DATA / "results_bertbase_sst2_macs.csv"  # a copy of shared/data (Apache-2.0)
NEW_HEADER = ["Sub-network", "Date", "Model Parameters", "Latency (ms)", "MACs", "SST-2 Acc"]

WORDS = [
    "the",
    "a",
    "film",
    "movie",
    "is",
    "was",
    "funny",
    "dull",
    "great",
    "boring",
    "plot",
    "acting",
    ",",
    ".",
    "and",
]
POSITIVE, NEGATIVE = ["funny", "great"], ["dull", "boring"]
TINY_VOCAB = 64


def write_vocab(path: Path, size: int) -> list[str]:
    """A BERT WordPiece vocabulary of exactly ``size`` tokens: specials, words, suffix pieces, then unused slots."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "spark", "##ling", "##s"]
    tokens += [f"[unused{i}]" for i in range(size - len(tokens))]
    assert len(tokens) == size
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return tokens


def write_sst2(folder: Path, n: int = 24, vocab_size: int = TINY_VOCAB, seed: int = 0) -> Path:
    """``dev.tsv`` in GLUE SST-2's published layout and a ``vocab.txt`` of ``vocab_size`` tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = ["sentence\tlabel"]
    for i in range(n):
        label = i % 2
        word = rng.choice(POSITIVE if label else NEGATIVE)
        filler = " ".join(rng.choice(WORDS[:6], size=rng.integers(1, 6)))
        lines.append(f"The {filler} {word} .\t{label}")
    (folder / "dev.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_vocab(folder / "vocab.txt", vocab_size)
    return folder


TINY_SHAPE = BertShape(
    vocab_size=TINY_VOCAB,
    hidden_size=16,
    num_layers=3,
    num_heads=4,
    intermediate_size=32,
    max_position_embeddings=32,
    type_vocab_size=2,
    num_labels=2,
)


class TinyBert(BertSST2SuperNetwork):
    """The same super-network code at small widths: 1-3 layers of 2-4 heads of 4 and 8-32 feed-forward units."""

    name = "bert_tiny_for_tests"
    shape = TINY_SHAPE
    encoding = bert_encoding([1, 2, 3], [2, 3, 4], [8, 16, 32], TINY_SHAPE.num_layers)
    max_seq_length = 12
    extracted = 0

    def active_subnet(self, subnet):
        TinyBert.extracted += 1
        return super().active_subnet(subnet)


@pytest.fixture
def tiny(register_supernet):
    TinyBert.extracted = 0
    return register_supernet(TinyBert)


@pytest.fixture
def sst2(tmp_path):
    return write_sst2(tmp_path / "SST-2")


def random_subnets(supernet, n, seed=0):
    vectors = supernet.encoding.random_vectors(n, seed)
    return vectors, [supernet.encoding.vector_to_dict(v) for v in vectors]


# --- the search space and the exact metrics ---------------------------------------------------------------------


def test_registered_with_the_reference_genes_and_metrics():
    supernet = create_supernet("bert_base_sst2")
    assert supernet.encoding.params == {
        "num_layers": {"count": 1, "vars": [6, 7, 8, 9, 10, 11, 12]},
        "num_attention_heads": {"count": 12, "vars": [6, 8, 10, 12]},
        "intermediate_size": {"count": 12, "vars": [1024, 2048, 3072]},
    }
    assert supernet.metrics == ("accuracy_sst2", "macs", "params", "latency")
    assert supernet.csv_metrics == ("params", "latency", "macs", "accuracy_sst2")
    assert supernet.exact_metric_names == ("macs", "params")
    assert supernet.inner_evals == 20000
    assert supernet.canonical_metric("acc") == "accuracy_sst2"
    assert supernet.canonical_metric("ACC ") == "accuracy_sst2"


def test_every_reference_macs_value_is_reproduced():
    supernet = create_supernet("bert_base_sst2")
    with open(REFERENCE_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2000
    vectors = np.stack([supernet.encoding.dict_to_vector(supernet.parse_record(r["Sub-network"])) for r in rows])
    macs = supernet.exact_metrics(vectors)["macs"]
    assert macs.dtype == np.int64
    assert macs.tolist() == [int(r["MACS"]) for r in rows]


def test_params_of_the_largest_and_smallest_sub_networks():
    # BERT-base's 109,482,240 parameters (BertModel with its pooler) less its LayerNorms' 38,400: the reference
    # counts neither the LayerNorms nor the classifier.
    supernet = create_supernet("bert_base_sst2")
    largest = np.array([[6] + [3] * 12 + [2] * 12])
    smallest = np.zeros((1, 25), dtype=np.int64)
    assert supernet.exact_metrics(largest)["params"].tolist() == [109_443_840]
    assert supernet.exact_metrics(smallest)["params"][0] < supernet.exact_metrics(largest)["params"][0]


def params_in_reference_convention(module: torch.nn.Module) -> int:
    """Parameters of an extracted sub-network without LayerNorms and the classifier."""
    return sum(
        p.numel()
        for name, p in module.named_parameters()
        if "LayerNorm" not in name and not name.startswith("classifier")
    )


def test_closed_form_params_equal_the_extracted_bert_base_sub_networks():
    supernet = create_supernet("bert_base_sst2")
    with torch.device("meta"):  # BERT-base's shapes without its memory or arithmetic
        model = BertClassifier(BERT_BASE, [12] * 12, [3072] * 12)
    vectors, subnets = random_subnets(supernet, 5)
    params = supernet.exact_metrics(vectors)["params"]
    for subnet, expected in zip(subnets, params):
        module = extract_subnet(
            model, subnet["num_layers"][0], subnet["num_attention_heads"], subnet["intermediate_size"]
        )
        assert params_in_reference_convention(module) == expected


def test_closed_form_macs_equal_the_counted_operations(tiny):
    from torch.utils.flop_counter import FlopCounterMode

    supernet = tiny()
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    vectors, subnets = random_subnets(supernet, 6, seed=1)
    exact = supernet.exact_metrics(vectors)
    s, h = supernet.max_seq_length, supernet.shape.hidden_size
    ids = torch.zeros((1, s), dtype=torch.long)
    for subnet, macs, params in zip(subnets, exact["macs"], exact["params"]):
        module = supernet.active_subnet(subnet)
        with FlopCounterMode(display=False) as counter:
            module(ids, torch.ones_like(ids), ids)
        layers = subnet["num_layers"][0]
        # Matrix products counted by torch (two flops per MAC); the reference also counts one MAC per LayerNorm output
        # element (the embeddings' and two per layer) and one per position for the attention mask's scaling.
        assert counter.get_total_flops() // 2 + s * h * (1 + 2 * layers) + s == macs
        assert params_in_reference_convention(module) == params


def test_features_ignore_the_genes_of_layers_that_do_not_run():
    supernet = create_supernet("bert_base_sst2")
    vectors, _ = random_subnets(supernet, 50)
    vectors[:, 0] = 0  # six layers
    changed = vectors.copy()
    changed[:, 7:13] = (changed[:, 7:13] + 1) % 4  # heads of layers 7-12
    changed[:, 19:25] = (changed[:, 19:25] + 1) % 3  # feed-forward sizes of layers 7-12
    assert np.array_equal(supernet.features(vectors), supernet.features(changed))
    assert np.array_equal(supernet.exact_metrics(vectors)["macs"], supernet.exact_metrics(changed)["macs"])
    changed[:, 6] = (changed[:, 6] + 1) % 4  # the sixth layer's heads do count
    assert (supernet.features(vectors) != supernet.features(changed)).any(axis=1).all()


# --- the elastic BERT, extraction and checkpoints ------------------------------------------------------------------


def test_the_largest_sub_network_is_the_super_network():
    model = build_supernet(TINY_SHAPE)
    full = extract_subnet(model, 3, [4, 4, 4], [32, 32, 32])
    ids = torch.randint(0, TINY_VOCAB, (3, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    with torch.no_grad():
        assert torch.equal(full(ids, mask, torch.zeros_like(ids)), model(ids, mask, torch.zeros_like(ids)))


def test_sub_networks_are_leading_slices_and_standalone():
    model = build_supernet(TINY_SHAPE)
    subnet = extract_subnet(model, 2, [2, 3, 4], [8, 32, 16])
    assert len(subnet.bert.encoder.layer) == 2
    source, state = model.state_dict(), subnet.state_dict()
    assert state["bert.encoder.layer.1.attention.self.query.weight"].shape == (12, 16)  # 3 heads of 4
    assert state["bert.encoder.layer.1.attention.output.dense.weight"].shape == (16, 12)
    assert state["bert.encoder.layer.0.output.dense.weight"].shape == (16, 8)
    for name, tensor in state.items():
        assert torch.equal(tensor, source[name][tuple(slice(0, n) for n in tensor.shape)]), name
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    assert all(t.abs().sum() > 0 for n, t in subnet.state_dict().items() if n.endswith("dense.weight"))


def test_a_sub_network_traces_with_the_example_inputs(tiny):
    supernet = tiny()
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    module = supernet.active_subnet({"num_layers": [2], "num_attention_heads": [2, 4, 3], "intermediate_size": [8] * 3})
    inputs = supernet.example_inputs()
    assert [tuple(t.shape) for t in inputs] == [(1, 12)] * 3
    with torch.no_grad():
        traced = torch.jit.trace(module, inputs)
        ids = torch.tensor([[2, 7, 9, 3, 0, 0, 0, 0, 0, 0, 0, 0]])
        args = (ids, (ids != 0).long(), torch.zeros_like(ids))
        assert torch.allclose(traced(*args), module(*args))


def test_padding_does_not_change_the_prediction():
    model = build_supernet(TINY_SHAPE)
    ids = torch.tensor([[2, 5, 9, 3]])
    padded = torch.tensor([[2, 5, 9, 3, 0, 0, 0, 0]])
    mask = (padded != 0).long()
    with torch.no_grad():
        short = model(ids, torch.ones_like(ids), torch.zeros_like(ids))
        long = model(padded, mask, torch.zeros_like(padded))
    assert torch.allclose(short, long, atol=1e-5)


def test_a_random_super_network_is_the_same_in_every_run():
    a, b = build_supernet(TINY_SHAPE), build_supernet(TINY_SHAPE)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(build_supernet(TINY_SHAPE, seed=1).classifier.weight, a.classifier.weight)


@pytest.mark.parametrize("layout", ["reference", "data_parallel", "bare_bert", "state_dict"])
def test_checkpoint_round_trip(tiny, tmp_path, layout):
    trained = build_supernet(TINY_SHAPE, seed=7)
    state = dict(trained.state_dict())
    state["bert.embeddings.position_ids"] = torch.arange(32)[None]  # saved by some Hugging Face versions
    if layout == "data_parallel":
        state = {"module." + k: v for k, v in state.items()}
    if layout == "bare_bert":
        state = {k.removeprefix("bert."): v for k, v in state.items()}
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": state} if layout == "state_dict" else {"model": state, "epoch": 3}, path)
    supernet = tiny()
    supernet.load(pretrained=True, ckpt_path=str(path), device="cpu")
    for name, tensor in trained.state_dict().items():
        assert torch.equal(supernet.model.state_dict()[name], tensor), name
    subnet = {"num_layers": [2], "num_attention_heads": [3, 2, 4], "intermediate_size": [16, 8, 32]}
    module = supernet.active_subnet(subnet)
    assert torch.equal(
        module.bert.encoder.layer[0].attention.self.key.weight,
        trained.state_dict()["bert.encoder.layer.0.attention.self.key.weight"][:12],
    )


def test_export_round_trip_of_a_sub_network(tiny, tmp_path, dynas_config):
    import onnxruntime

    from neural_nas.export import load_subnet, save_subnet, standalone_subnet

    path = tmp_path / "ckpt.pt"
    torch.save({"model": build_supernet(TINY_SHAPE, seed=5).state_dict()}, path)
    config = dynas_config(TinyBert.name, ("acc", "macs"), supernet_ckpt_path=str(path))
    subnet = {"num_layers": [3], "num_attention_heads": [2, 3, 4], "intermediate_size": [32, 8, 16]}
    module = standalone_subnet(config, subnet)  # no BatchNorm: no data set needed
    files = save_subnet(module, tiny(), subnet, tmp_path / "export", formats=("pt2", "onnx", "torchscript"))
    ids = torch.tensor([[2, 7, 9, 3, 0, 0], [4, 5, 0, 0, 0, 0]])  # a sequence length other than the traced one
    args = (ids, (ids != 0).long(), torch.zeros_like(ids))
    with torch.no_grad():
        expected = module(*args)
        assert torch.equal(load_subnet(files["weights"])(*args), expected)
        assert torch.allclose(torch.export.load(files["pt2"]).module()(*args), expected, atol=1e-5)
        assert torch.allclose(torch.jit.load(str(files["torchscript"]))(*args), expected)
    session = onnxruntime.InferenceSession(str(files["onnx"]))
    names = [i.name for i in session.get_inputs()]
    assert names == ["input_ids", "attention_mask", "token_type_ids"]
    assert [i.shape for i in session.get_inputs()] == [["batch", "sequence"]] * 3
    (logits,) = session.run(None, dict(zip(names, (a.numpy() for a in args))))
    assert np.allclose(logits, expected.numpy(), atol=1e-4)
    card = json.loads(files["description"].read_text())
    assert set(card["parity"]) == {"pt2", "onnx", "torchscript"}
    assert all(p["subnet"]["max_abs_diff"] <= p["subnet"]["tolerance"] for p in card["parity"].values())
    ids_contract = {"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}
    assert card["graphs"]["subnet"]["inputs"][0] == ids_contract


def test_a_checkpoint_of_another_shape_is_one_clear_error(tiny, tmp_path):
    other = build_supernet(BertShape(TINY_VOCAB, 16, 3, 4, 64, 32, 2, 2))  # wider feed-forward layers
    path = tmp_path / "other.pt"
    torch.save({"model": other.state_dict()}, path)
    shape_error = r"supernet_ckpt_path.*9 tensors of another shape.*intermediate.dense.weight is \(64, 16\) instead of"
    with pytest.raises(ConfigError, match=shape_error):
        tiny().load(pretrained=True, ckpt_path=str(path), device="cpu")
    partial = {k: v for k, v in build_supernet(TINY_SHAPE).state_dict().items() if "pooler" not in k}
    torch.save({"model": partial}, path)
    with pytest.raises(ConfigError, match="2 tensors missing"):
        tiny().load(pretrained=True, ckpt_path=str(path), device="cpu")
    torch.save({"model": {"weights": [1, 2]}}, path)
    with pytest.raises(ConfigError, match=r"a checkpoint of super-network bert_tiny_for_tests.*: a state dict"):
        tiny().load(pretrained=True, ckpt_path=str(path), device="cpu")


def test_pickled_objects_are_refused(tiny, tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": build_supernet(TINY_SHAPE).state_dict(), "args": Path("x")}, path)
    with pytest.raises(ConfigError, match="readable torch checkpoint.*cannot be read safely.*pathlib"):
        tiny().load(pretrained=True, ckpt_path=str(path), device="cpu")


def test_training_arguments_beside_the_weights_are_read_as_inert_placeholders(tiny, tmp_path):
    # The same reader as the translation super-network's: a training script's argparse.Namespace is metadata.
    import argparse

    trained = build_supernet(TINY_SHAPE, seed=3)
    path = tmp_path / "with_args.pt"
    torch.save({"model": trained.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    supernet = tiny()
    supernet.load(pretrained=True, ckpt_path=str(path), device="cpu")
    assert torch.equal(supernet.model.classifier.weight, trained.classifier.weight)


def test_a_subclass_whose_genes_do_not_fit_its_shape_fails_when_defined():
    with pytest.raises(TypeError, match="do not fit the shape"):

        class TooManyHeads(BertSST2SuperNetwork):
            shape = TINY_SHAPE
            encoding = bert_encoding([1, 2, 3], [2, 8], [8, 16, 32], TINY_SHAPE.num_layers)


def test_no_checkpoint_is_downloaded(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_NAS_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match="bert_base_sst2.pt.*no download location"):
        create_supernet("bert_base_sst2").load(pretrained=True, ckpt_path=None, device="cpu")


# --- SST-2 data and tokenisation -----------------------------------------------------------------------------------


def test_tokenisation_follows_bert(tmp_path):
    from neural_nas.supernets.text.sst2_data import tokenise

    tokens = write_vocab(tmp_path / "vocab.txt", TINY_VOCAB)
    ids = {t: i for i, t in enumerate(tokens)}
    split = tokenise(["The FILMs is Sparkling !", "a " * 20], tmp_path / "vocab.txt", 10, True, ids["[PAD]"])
    first = [tokens[i] for i in split.input_ids[0]]
    # Lower-cased, split on punctuation, WordPiece suffixes, an unknown word, padding to the length
    assert first == ["[CLS]", "the", "film", "##s", "is", "spark", "##ling", "[UNK]", "[SEP]", "[PAD]"]
    assert split.attention_mask[0].tolist() == [1] * 9 + [0]
    assert split.token_type_ids.tolist() == [[0] * 10] * 2
    # Truncated to the length with [SEP] kept last, as the reference's max_seq_length - 2 tokens
    assert [tokens[i] for i in split.input_ids[1]] == ["[CLS]"] + ["a"] * 8 + ["[SEP]"]


def test_dev_split_and_test_fraction(sst2):
    from neural_nas.supernets.text.sst2_data import load_dev_split

    kwargs = dict(ckpt_path=None, vocab_size=TINY_VOCAB, num_labels=2, max_len=12, lowercase=True)
    full = load_dev_split(str(sst2), **kwargs)
    assert full.input_ids.shape == (24, 12) and full.labels.tolist() == [0, 1] * 12
    part = load_dev_split(str(sst2), test_fraction=0.25, seed=3, **kwargs)
    assert part.input_ids.shape == (6, 12)
    again = load_dev_split(str(sst2), test_fraction=0.25, seed=3, **kwargs)
    assert np.array_equal(part.input_ids, again.input_ids)
    rows = [tuple(r) for r in full.input_ids.tolist()]
    assert all(tuple(r) in rows for r in part.input_ids.tolist())


def test_vocabulary_beside_the_checkpoint(sst2, tmp_path):
    from neural_nas.supernets.text.sst2_data import find_vocab

    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.move(sst2 / "vocab.txt", weights / "vocab.txt")
    assert find_vocab(sst2, str(weights / "ckpt.pt")) == weights / "vocab.txt"
    with pytest.raises(ConfigError, match="no vocab.txt at"):
        find_vocab(sst2, None)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("header", r"header row with 'sentence' and 'label'.*\['text', 'label'\]"),
        ("label", r"labels in \['0', '1'\]; got .*line 3"),
        ("missing", "dev.tsv is missing"),
        ("vocab", "checkpoint: 64 tokens.*has 70 tokens"),
        ("specials", r"lacks \['\[CLS\]'\]"),
        ("encoding", r"dev.tsv line 3 has bytes that are not UTF-8"),
    ],
)
def test_bad_data_is_one_clear_error_before_any_measurement(in_tmp, tiny, sst2, dynas_config, damage, message):
    dev = sst2 / "dev.tsv"
    if damage == "header":
        dev.write_text(dev.read_text().replace("sentence\tlabel", "text\tlabel"))
    elif damage == "label":
        lines = dev.read_text().splitlines()
        lines[2] = "a film\tpositive"
        dev.write_text("\n".join(lines))
    elif damage == "missing":
        dev.unlink()
    elif damage == "encoding":  # a Latin-1 file: its third line has a byte that is not UTF-8
        lines = dev.read_bytes().split(b"\n")
        lines[2] = lines[2].replace(b"a", b"\xe9", 1)
        dev.write_bytes(b"\n".join(lines))
    elif damage == "vocab":
        write_vocab(sst2 / "vocab.txt", 70)
    else:
        vocab = (sst2 / "vocab.txt").read_text().replace("[CLS]", "[unused99]")
        (sst2 / "vocab.txt").write_text(vocab)
    # The checkpoint does not exist either: the data set is checked first.
    config = dynas_config(TinyBert.name, ("acc", "macs"), dataset_path=str(sst2), supernet_ckpt_path="nowhere.pt")
    with pytest.raises(ConfigError, match=message):
        NAS(config).search()
    assert TinyBert.extracted == 0
    assert not (in_tmp / "dynas_results.csv").exists() or len(read_rows(in_tmp / "dynas_results.csv")) <= 1


def test_a_search_with_a_checkpoint_of_another_shape_stops_before_measuring(in_tmp, tiny, sst2, dynas_config):
    path = in_tmp / "other.pt"
    torch.save({"model": build_supernet(BertShape(TINY_VOCAB, 16, 2, 4, 32, 32, 2, 2)).state_dict()}, path)
    config = dynas_config(TinyBert.name, ("acc", "macs"), dataset_path=str(sst2), supernet_ckpt_path=str(path))
    with pytest.raises(ConfigError, match="tensors missing.*bert.encoder.layer.2"):
        NAS(config).search()
    assert TinyBert.extracted == 0


def test_exact_metrics_need_neither_torch_nor_tokenizers():
    import subprocess
    import sys

    code = (
        "import sys; import numpy as np; from neural_nas.supernets import create_supernet; "
        "s = create_supernet('bert_base_sst2'); s.exact_metrics(np.zeros((3, 25), dtype=int)); "
        "s.features(np.zeros((3, 25), dtype=int)); print('torch' in sys.modules, 'tokenizers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- measuring and searching ---------------------------------------------------------------------------------------


def measurer_for(supernet, sst2, metrics, **conf):
    from types import SimpleNamespace

    from neural_nas.measurements.context import MeasureContext

    settings = dict(
        dataset_path=str(sst2),
        supernet_ckpt_path=None,
        batch_size=2,
        eval_batch_size=5,
        test_fraction=1.0,
        latency_warmup=1,
        latency_steps=3,
    )
    settings.update(conf)
    return supernet.measurer(MeasureContext(tuple(metrics), SimpleNamespace(**settings), "cpu", 0))


def test_accuracy_is_the_share_of_correct_dev_predictions(tiny, sst2):
    from neural_nas.supernets.text.sst2_data import load_dev_split

    supernet = tiny()
    measurer = measurer_for(supernet, sst2, ("accuracy_sst2", "macs", "latency"))
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    subnet = {"num_layers": [2], "num_attention_heads": [4, 2, 3], "intermediate_size": [8, 32, 16]}
    result = measurer(subnet)
    split = load_dev_split(str(sst2), ckpt_path=None, vocab_size=TINY_VOCAB, num_labels=2, max_len=12, lowercase=True)
    module = supernet.active_subnet(subnet)
    with torch.no_grad():
        logits = module(*(torch.as_tensor(a) for a in (split.input_ids, split.attention_mask, split.token_type_ids)))
    expected = float((logits.argmax(-1).numpy() == split.labels).mean())
    assert result["accuracy_sst2"] == pytest.approx(expected)
    assert 0 <= result["accuracy_sst2"] <= 1
    one_batch = measurer_for(supernet, sst2, ("accuracy_sst2",), eval_batch_size=64)
    assert one_batch(subnet)["accuracy_sst2"] == result["accuracy_sst2"]
    assert result["latency"] > 0
    vector = supernet.encoding.dict_to_vector(subnet)[None]
    assert result["macs"] == supernet.exact_metrics(vector)["macs"][0]
    assert measurer.latency_input == {"sequence_length": 12, "input": "padded token batch"}


def test_exact_metrics_alone_extract_nothing(tiny, sst2):
    supernet = tiny()
    measurer = measurer_for(supernet, "no-such-folder", ("macs", "params"))  # no data needed either
    result = measurer({"num_layers": [1], "num_attention_heads": [2, 2, 2], "intermediate_size": [8, 8, 8]})
    assert set(result) == {"macs", "params"} and TinyBert.extracted == 0


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_search_on_accuracy_and_macs_writes_and_resumes_the_csv(in_tmp, tiny, sst2, dynas_config):
    config = dynas_config(TinyBert.name, ("acc", "macs"), num_evals=12, dataset_path=str(sst2), pretrained=False)
    agent = NAS(config)
    results = agent.search()
    assert len(results) == 10
    rows = read_rows(in_tmp / "dynas_results.csv")
    assert rows[0] == NEW_HEADER and len(rows) == 13
    supernet = tiny()
    subnets = [supernet.parse_record(r[0]) for r in rows[1:]]
    assert len({repr(s) for s in subnets}) == 12
    vectors = np.stack([supernet.encoding.dict_to_vector(s) for s in subnets])
    exact = supernet.exact_metrics(vectors)
    assert [int(r[4]) for r in rows[1:]] == exact["macs"].tolist()
    assert [int(r[2]) for r in rows[1:]] == exact["params"].tolist()  # exact metrics fill their columns for free
    assert all(r[3] == "0" for r in rows[1:])  # latency not measured
    accuracy = np.array([float(r[5]) for r in rows[1:]])
    assert ((accuracy >= 0) & (accuracy <= 1)).all()
    assert np.allclose(accuracy * 24, np.round(accuracy * 24))  # a share of the 24 dev sentences
    assert TinyBert.extracted == 12

    TinyBert.extracted = 0
    NAS(config).search()  # resumes: nothing measured again
    assert read_rows(in_tmp / "dynas_results.csv") == rows and TinyBert.extracted == 0
    config.dynas.num_evals = 15
    NAS(config).search()
    after = read_rows(in_tmp / "dynas_results.csv")
    assert after[:13] == rows and len(after) == 16 and TinyBert.extracted == 3


def test_the_notebooks_older_csv_layout_resumes(in_tmp, sst2, dynas_config):
    """Rows of the reference notebook's file (``Sub-network,Date,MACS,SST-2 Acc``) resume a bert_base_sst2 search; a
    new row follows that layout, measured on the real BERT-base code (randomly initialised)."""
    with open(REFERENCE_CSV, newline="") as f:
        lines = f.read().splitlines()[:13]
    (in_tmp / "old.csv").write_text("\n".join(lines) + "\n")
    write_vocab(sst2 / "vocab.txt", BERT_BASE.vocab_size)
    config = dynas_config(
        "bert_base_sst2",
        ("acc", "macs"),
        num_evals=12,
        dataset_path=str(sst2),
        results_csv_path="old.csv",
        pretrained=False,
        test_fraction=1 / 12,  # 2 of the 24 sentences: BERT-base on a CPU
    )
    agent = NAS(config)
    agent.search()
    assert (in_tmp / "old.csv").read_text().splitlines() == lines
    measured = agent.search_results
    assert len(measured) == 12
    supernet = create_supernet("bert_base_sst2")
    first = supernet.parse_record(ast.literal_eval(lines[1].split('",')[0].lstrip('"')))
    canonical = supernet.encoding.vector_to_dict(supernet.canonical(supernet.encoding.dict_to_vector(first))[0])
    values = measured[arch_key(canonical)]  # recorded under its canonical form (genes of layers it skips: first)
    assert values["macs"] == 7141557888 and values["accuracy_sst2"] == pytest.approx(0.917431193)

    config.dynas.num_evals = 13
    NAS(config).search()
    new = read_rows(in_tmp / "old.csv")
    assert new[0] == ["Sub-network", "Date", "MACS", "SST-2 Acc"] and len(new) == 14
    vector = supernet.encoding.dict_to_vector(supernet.parse_record(new[-1][0]))[None]
    assert int(new[-1][2]) == supernet.exact_metrics(vector)["macs"][0]
    assert float(new[-1][3]) in (0.0, 0.5, 1.0)  # a share of 2 dev sentences


# --- the notebook --------------------------------------------------------------------------------------------------

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook" / "dynas" / "BERT_SST2_Supernet_NAS.ipynb"


def test_notebook_is_stored_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert cells and all(not c.outputs and c.execution_count is None for c in cells)


def test_notebook_runs_reduced_on_its_demonstration_data(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    for name in ("SST2_PATH", "CKPT_PATH", "NAS_INNER_EVALS"):
        monkeypatch.delenv(name, raising=False)
    num_evals = 11  # one predictor-guided loop after the first population
    monkeypatch.setenv("NAS_POPULATION", "10")
    monkeypatch.setenv("NAS_NUM_EVALS", str(num_evals))
    monkeypatch.setenv("NAS_INNER_EVALS", "300")
    monkeypatch.setenv("NAS_TEST_FRACTION", "0.25")  # 8 of the 32 demonstration sentences: BERT-base on a CPU
    monkeypatch.setenv("NAS_RESULTS_CSV", "results.csv")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()
    cells = [c for c in nb.cells if c.cell_type == "code"]

    rows = read_rows(tmp_path / "results.csv")
    assert rows[0] == NEW_HEADER and len(rows) == num_evals + 1
    supernet = create_supernet("bert_base_sst2")
    vectors = np.stack([supernet.encoding.dict_to_vector(supernet.parse_record(r[0])) for r in rows[1:]])
    assert len(np.unique(vectors, axis=0)) == num_evals
    exact = supernet.exact_metrics(vectors)
    assert [int(r[4]) for r in rows[1:]] == exact["macs"].tolist()
    assert [int(r[2]) for r in rows[1:]] == exact["params"].tolist()
    accuracy = np.array([float(r[5]) for r in rows[1:]])
    assert np.allclose(accuracy * 8, np.round(accuracy * 8)) and ((accuracy >= 0) & (accuracy <= 1)).all()

    points = [(a, m) for a, m in zip(accuracy, exact["macs"])]
    front = [p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)]
    printed = "".join(o.get("text", "") for c in cells for o in c.outputs if o.output_type == "stream")
    assert f"{num_evals} sub-networks measured" in printed and f"measured Pareto front: {len(front)}" in printed
    assert (tmp_path / "sst2_demo" / "dev.tsv").is_file()
    assert len((tmp_path / "sst2_demo" / "vocab.txt").read_text().splitlines()) == BERT_BASE.vocab_size
    assert (tmp_path / "pareto_front.png").stat().st_size > 0 and (tmp_path / "hypervolume.png").stat().st_size > 0


def test_a_failing_sub_network_is_its_failure_and_a_failing_library_is_not(tiny, sst2, monkeypatch):
    from neural_nas.errors import MeasurementError
    from neural_nas.supernets.text import measurer as measurer_mod

    supernet = tiny()
    measurer = measurer_for(supernet, sst2, ("accuracy_sst2", "latency"))
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    subnet = {"num_layers": [2], "num_attention_heads": [4, 2, 3], "intermediate_size": [8, 32, 16]}

    def broken(self, *args):
        raise RuntimeError("the sub-network's own bug")

    with monkeypatch.context() as patch:
        patch.setattr(BertClassifier, "forward", broken)
        with pytest.raises(MeasurementError, match="own bug"):
            measurer(subnet)

    def library_bug(*args, **kwargs):
        raise RuntimeError("a bug of the timing loop")

    monkeypatch.setattr(measurer_mod, "time_calls", library_bug)
    with pytest.raises(RuntimeError, match="timing loop") as info:
        measurer(subnet)
    assert not isinstance(info.value, MeasurementError)


def test_measurement_keys_it_does_not_read_are_warned_about(caplog, tiny, dynas_config):
    caplog.set_level("WARNING", logger="neural_nas")
    assert set(TinyBert.measurement_settings) == {
        "dataset_path",
        "batch_size",
        "eval_batch_size",
        "test_fraction",
        "latency_warmup",
        "latency_steps",
    }
    NAS(dynas_config(TinyBert.name, ("macs", "params"), num_workers=2, calibration_size=100, eval_batch_size=8))
    said = [r.getMessage() for r in caplog.records if "has no effect" in r.getMessage()]
    assert len(said) == 2
    assert any("nas.dynas.num_workers" in m for m in said) and any("nas.dynas.calibration_size" in m for m in said)


def test_sst2_accuracy_races_over_the_dev_sentences(tiny, sst2, racing_check):
    supernet = tiny()
    supernet.load(pretrained=False, ckpt_path=None, device="cpu")
    measure = measurer_for(supernet, sst2, ("accuracy_sst2", "macs"))
    subnet = {"num_layers": [2], "num_attention_heads": [4, 2, 3], "intermediate_size": [8, 32, 16]}
    whole, stopped = racing_check(measure, subnet, "accuracy_sst2", beyond=1.01)
    assert stopped.of == len(measure.dev[3]) and 0 <= stopped.metrics["accuracy_sst2"] <= 1
