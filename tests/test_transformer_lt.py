"""The Transformer-LT translation super-network: genes, exact MACs/params, model, data formats, checkpoint, beam
search and BLEU, and a whole search that resumes (on the small demo space and a copy task in the real formats)."""

import ast
import csv
import dataclasses
import json
import re
import struct
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from neural_nas import NAS
from neural_nas.errors import ConfigError
from neural_nas.measurements.context import MeasureContext
from neural_nas.supernets import create_supernet
from neural_nas.supernets.translation import data as data_mod
from neural_nas.supernets.translation.beam import BeamSettings, beam_search
from neural_nas.supernets.translation.bleu import batch_bleu
from neural_nas.supernets.translation.counting import exact_macs_params, macs_breakdown
from neural_nas.supernets.translation.data import EOS, PAD, Dictionary, load_split, read_indexed, write_indexed
from neural_nas.supernets.translation.demo import (
    DEMO_NAME,
    DEMO_SPACE,
    register_demo,
    save_checkpoint,
    train_copy_checkpoint,
    write_copy_task,
)
from neural_nas.supernets.translation.model import DecoderState, SuperTransformer

NAME = "transformer_lt_wmt_en_de"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))  # translate_exported.py, the example decoding loop
MACS_CSV = Path(__file__).parent / "data" / "inc_dynas_notebook_results" / "results_transformerlt_macs.csv"
GENES = [
    ("encoder_embed_dim", 1, [640, 512]),
    ("decoder_embed_dim", 1, [640, 512]),
    ("encoder_ffn_embed_dim", 6, [3072, 2048, 1024]),
    ("decoder_ffn_embed_dim", 6, [3072, 2048, 1024]),
    ("decoder_layer_num", 1, [6, 5, 4, 3, 2, 1]),
    ("encoder_self_attention_heads", 6, [8, 4]),
    ("decoder_self_attention_heads", 6, [8, 4]),
    ("decoder_ende_attention_heads", 6, [8, 4]),
    ("decoder_arbitrary_ende_attn", 6, [-1, 1, 2]),
]


@pytest.fixture(scope="module")
def copy_task(tmp_path_factory):
    """A copy-task data-bin, a checkpoint trained on it and one of the same super-network untrained."""
    root = tmp_path_factory.mktemp("copy_task")
    data = write_copy_task(root / "data-bin", n_test=24)
    train_copy_checkpoint(data, root / "trained.pt", steps=300, batch_size=24, lr=4e-3)
    return data, root / "trained.pt"


def measure_ctx(metrics, dataset_path, **conf):
    settings = dict(
        dataset_path=None if dataset_path is None else str(dataset_path),
        latency_warmup=1,
        latency_steps=3,
        test_fraction=1.0,
        eval_batch_size=16,
    )
    settings.update(conf)
    return MeasureContext(tuple(metrics), types.SimpleNamespace(**settings), "cpu", 0)


def demo_supernet(ckpt=None):
    supernet = register_demo()()
    supernet.load(pretrained=ckpt is not None, ckpt_path=None if ckpt is None else str(ckpt), device="cpu")
    return supernet


# ---- the search space and the exact metrics ---------------------------------------------------------------------


def test_registered_with_the_reference_genes_and_metrics():
    supernet = create_supernet(NAME)
    assert [(k, v["count"], v["vars"]) for k, v in supernet.encoding.params.items()] == GENES
    assert supernet.encoding.n_genes == 39
    assert supernet.metrics == ("bleu", "macs", "params", "latency")
    assert supernet.csv_metrics == ("params", "latency", "macs", "bleu")
    assert supernet.canonical_metric("acc") == "bleu" and supernet.canonical_metric("BLEU") == "bleu"
    assert supernet.inner_evals == 10000 and supernet.exact_metric_names == ("macs", "params")


def test_every_reference_macs_value_is_reproduced():
    supernet = create_supernet(NAME)
    with open(MACS_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 500
    vectors = np.stack([supernet.encoding.dict_to_vector(supernet.parse_record(r["Sub-network"])) for r in rows])
    macs = supernet.exact_metrics(vectors)["macs"]
    assert macs.tolist() == [int(r["MACs"]) for r in rows]


def test_records_round_trip_and_a_value_outside_the_table_is_refused():
    supernet = create_supernet(NAME)
    subnet = supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(1, rng=3)[0])
    assert supernet.parse_record(repr(supernet.subnet_record(subnet))) == subnet
    with pytest.raises(ConfigError, match="700"):
        supernet.parse_record({**subnet, "encoder_embed_dim": [700]})
    with pytest.raises(ConfigError, match="Sub-network"):
        supernet.shape({**subnet, "decoder_arbitrary_ende_attn": [0] * 6})


@pytest.mark.parametrize(("layers", "nums"), [(1, (1,)), (2, (2, 1))])
def test_n_networks_counts_the_distinct_canonical_forms(layers, nums):
    import itertools

    from neural_nas.supernets.translation import TransformerLTSuperNetwork, TransformerSpace

    space = TransformerSpace(
        encoder_embed_dims=(32,),
        decoder_embed_dims=(32, 24),
        ffn_dims=(64, 32),
        decoder_layer_nums=nums,
        heads=(4,),
        ende_choices=(-1, 1),
        encoder_layers=3,
        decoder_layers=layers,
        qkv_dim=32,
        vocab_size=32,
    )

    class Small(TransformerLTSuperNetwork):
        pass

    Small.space, Small.encoding = space, space.encoding()
    supernet = Small()
    every = np.array(list(itertools.product(*(range(int(c)) for c in supernet.encoding.cardinalities))))
    assert supernet.n_networks() == len(np.unique(supernet.canonical(every), axis=0))
    # and the predictors' features tell exactly the distinct networks apart
    assert len(np.unique(supernet.features(every), axis=0)) == supernet.n_networks()


def test_features_ignore_the_genes_of_decoder_layers_that_do_not_run():
    supernet = create_supernet(NAME)
    a = supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(1, rng=5)[0])
    a["decoder_layer_num"] = [2]
    b = {**a, "decoder_ffn_embed_dim": a["decoder_ffn_embed_dim"][:2] + [1024] * 4}
    b["decoder_arbitrary_ende_attn"] = a["decoder_arbitrary_ende_attn"][:2] + [2] * 4
    fa, fb = (supernet.features(supernet.encoding.dict_to_vector(s)) for s in (a, b))
    assert fa.shape == (supernet.encoding.n_onehot,) and np.array_equal(fa, fb)  # one vector, one row (as the default)
    b["decoder_layer_num"] = [3]
    assert not np.array_equal(fa, supernet.features(supernet.encoding.dict_to_vector(b)))
    # and the exact metrics agree: the inactive genes change nothing
    ea, eb = (
        exact_macs_params(supernet.space, supernet.encoding.dict_to_vector(s))
        for s in (a, {**b, "decoder_layer_num": [2]})
    )
    assert ea["macs"][0] == eb["macs"][0] and ea["params"][0] == eb["params"][0]


def test_closed_forms_match_the_extracted_sub_networks():
    supernet = demo_supernet()
    for vector in supernet.encoding.random_vectors(6, rng=0):
        subnet = supernet.encoding.vector_to_dict(vector)
        model = supernet.active_subnet(subnet)
        exact = supernet.exact_metrics(vector)
        # params as the reference counts them: every active weight, the shared embedding table excluded
        counted = sum(p.numel() for n, p in model.named_parameters() if n != "embed_tokens.weight")
        assert exact["params"][0] == counted
        # the matrix products of one pass on a 30-token sentence (encoder + teacher-forced decoder) as torch counts
        sentence = torch.full((1, DEMO_SPACE.sentence_length), 7)
        sentence[0, 0] = EOS
        with FlopCounterMode(display=False) as counter:
            model(sentence, sentence)
        matmul, elementwise = macs_breakdown(DEMO_SPACE, vector)
        assert counter.get_total_flops() == 2 * matmul[0]
        assert exact["macs"][0] == matmul[0] + elementwise[0]


# ---- the model ----------------------------------------------------------------------------------------------------


def test_extraction_slices_the_shared_weights_and_absorb_inverts_it():
    supernet = demo_supernet()
    subnet = supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(1, rng=2)[0])
    shape = supernet.shape(subnet)
    model = supernet.active_subnet(subnet)
    big = supernet.model.state_dict()
    de, f0 = shape.encoder_embed_dim, shape.encoder_ffn[0]
    assert torch.equal(model.encoder_layers[0].fc1.weight, big["encoder.layers.0.fc1.weight"][:f0, :de])
    assert torch.equal(
        model.embed_tokens.weight, big["encoder.embed_tokens.weight"][:, : max(de, shape.decoder_embed_dim)]
    )
    q = DEMO_SPACE.qkv_dim
    fused = big["decoder.layers.0.encoder_attn.in_proj_weight"]
    assert torch.equal(model.decoder_layers[0].encoder_attn.kv_proj.weight, fused[q:, :de])
    assert len(model.decoder_layers) == shape.decoder_layers == subnet["decoder_layer_num"][0]
    # a copy, not a view: training the sub-network leaves the super-network alone until absorbed
    with torch.no_grad():
        model.encoder_layers[0].fc1.weight.add_(1.0)
    assert torch.equal(supernet.model.state_dict()["encoder.layers.0.fc1.weight"], big["encoder.layers.0.fc1.weight"])
    other = SuperTransformer(DEMO_SPACE)
    other.load_state_dict(supernet.model.state_dict())
    other.absorb(shape, model)
    again = other.extract(shape)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_incremental_decoding_equals_the_teacher_forced_pass():
    supernet = demo_supernet()
    vector = supernet.encoding.random_vectors(1, rng=4)[0]
    model = supernet.active_subnet(supernet.encoding.vector_to_dict(vector))
    generator = torch.Generator().manual_seed(0)
    src = torch.randint(4, DEMO_SPACE.vocab_size, (3, 8), generator=generator)
    src[0, :3] = data_mod.PAD  # left padding, as fairseq batches sources
    src[:, -1] = EOS
    prev = torch.randint(4, DEMO_SPACE.vocab_size, (3, 6), generator=generator)
    prev[:, 0] = EOS
    with torch.no_grad():
        full = model(src, prev)
        enc, state = model.encode(src), DecoderState()
        steps = torch.cat([model.decode(prev[:, : k + 1], enc, state) for k in range(6)], dim=1)
    assert torch.allclose(full, steps, atol=1e-5)


# ---- data ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["mmap", "lazy"])
def test_binarized_files_read_back_in_both_index_formats(tmp_path, fmt):
    sentences = [np.array([5, 9, 300, 2]), np.array([2]), np.arange(4, 40)]
    write_indexed(tmp_path / "x", sentences, fmt=fmt)
    assert [s.tolist() for s in read_indexed(tmp_path / "x")] == [s.tolist() for s in sentences]
    idx, body = (tmp_path / "x.idx").read_bytes(), (tmp_path / "x.bin").read_bytes()
    if fmt == "mmap":  # magic, version 1, dtype code 8 (uint16), count; ids stored as they are
        assert idx[:9] == b"MMIDIDX\x00\x00" and struct.unpack_from("<QBQ", idx, 9) == (1, 8, 3)
        assert np.frombuffer(body, "<u2")[:4].tolist() == [5, 9, 300, 2]
    else:  # magic, version 1, dtype code 4 (int32) of 4 bytes, count, sizes; ids stored plus one
        assert idx[:8] == b"TNTIDX\x00\x00" and struct.unpack_from("<QQQQQ", idx, 8) == (1, 4, 4, 3, 3)
        assert np.frombuffer(body, "<i4")[:4].tolist() == [6, 10, 301, 3]


def test_megatron_style_trailing_document_index_is_ignored(tmp_path):
    write_indexed(tmp_path / "x", [np.array([4, 2]), np.array([5, 6, 2])])
    with open(tmp_path / "x.idx", "ab") as f:
        f.write(struct.pack("<Q", 3) + np.array([0, 1, 2], "<i8").tobytes())
    assert [s.tolist() for s in read_indexed(tmp_path / "x")] == [[4, 2], [5, 6, 2]]


def test_dictionary_format_and_decoding(tmp_path):
    (tmp_path / "dict.de.txt").write_text("Ha@@ 10\nus 7\nklein 3 #fairseq:overwrite\n", encoding="utf-8")
    d = Dictionary.load(tmp_path / "dict.de.txt")
    assert d.symbols[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and len(d) == 7
    assert d.string([4, 5, 6, 3, 2]) == "Haus klein <unk>"
    assert d.string([4, 5, 6, 3, 2], unk="UNK") == "Haus klein UNK"
    (tmp_path / "dict.en.txt").write_text("house\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        Dictionary.load(tmp_path / "dict.en.txt")


def test_a_data_folder_in_the_wrong_layout_is_one_clear_error(tmp_path):
    root = write_copy_task(tmp_path / "bin", n_test=4, n_train=4)
    assert len(load_split(root).source) == 4
    with pytest.raises(ConfigError, match="nas.dynas.dataset_path.*not a folder"):
        load_split(tmp_path / "nowhere")
    (root / "dict.de.txt").unlink()
    with pytest.raises(ConfigError, match="missing: dict.de.txt"):
        load_split(root)
    root = write_copy_task(tmp_path / "bin2", n_test=4, n_train=4)
    (root / "test.en-de.en.idx").write_bytes(b"NOTANIDX" + bytes(40))
    with pytest.raises(ConfigError, match="neither"):
        load_split(root)
    # the reference's vocabulary is part of the network: data of another dictionary is refused before measuring
    with pytest.raises(ConfigError, match="32768 symbols"):
        create_supernet(NAME).measurer(measure_ctx(["bleu"], write_copy_task(tmp_path / "bin3", 4, 4)))
    with pytest.raises(ConfigError, match="dataset_path"):
        create_supernet(NAME).measurer(measure_ctx(["bleu"], None))


# ---- checkpoints --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy_format", [False, True])
def test_fairseq_checkpoint_round_trip_without_unpickling_objects(tmp_path, monkeypatch, legacy_format):
    source = demo_supernet()
    # A fairseq checkpoint holds objects of fairseq's classes beside the weights: fake one that is gone on loading.
    meters = types.ModuleType("fairseq.meters")

    class AverageMeter:
        def __init__(self):
            self.avg = 1.5

    AverageMeter.__module__, AverageMeter.__qualname__ = "fairseq.meters", "AverageMeter"
    meters.AverageMeter = AverageMeter
    monkeypatch.setitem(sys.modules, "fairseq", types.ModuleType("fairseq"))
    monkeypatch.setitem(sys.modules, "fairseq.meters", meters)
    save_checkpoint(source.model, tmp_path / "ck.pt", legacy_format, lr=[0.001], train_meters={"loss": AverageMeter()})
    monkeypatch.delitem(sys.modules, "fairseq.meters")
    monkeypatch.delitem(sys.modules, "fairseq")

    loaded = demo_supernet(tmp_path / "ck.pt")
    theirs, ours = source.model.state_dict(), loaded.model.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)
    assert "fairseq.meters" not in sys.modules  # read as an inert stand-in, never imported


def test_bad_checkpoints_are_one_clear_error_each(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_NAS_CACHE", str(tmp_path / "cache"))  # an empty cache
    supernet = register_demo()()
    with pytest.raises(ConfigError, match="supernet_ckpt_path.*does not exist"):
        supernet.load(pretrained=True, ckpt_path=str(tmp_path / "missing.pt"), device="cpu")
    with pytest.raises(ConfigError, match="supernet_ckpt_path.*no download"):
        supernet.load(pretrained=True, ckpt_path=None, device="cpu")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="loading it failed"):
        supernet.load(pretrained=True, ckpt_path=str(tmp_path / "text.pt"), device="cpu")
    # another architecture: the reference's full-size network is not the demo's
    other = SuperTransformer(dataclasses.replace(DEMO_SPACE, vocab_size=48))
    torch.save({"model": other.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="another architecture.*embed_tokens"):
        supernet.load(pretrained=True, ckpt_path=str(tmp_path / "other.pt"), device="cpu")
    torch.save({"model": {"encoder.layers.0.fc1.weight": torch.zeros(2, 2)}}, tmp_path / "part.pt")
    with pytest.raises(ConfigError, match="missing"):
        supernet.load(pretrained=True, ckpt_path=str(tmp_path / "part.pt"), device="cpu")
    # an object of a module outside the allow-list is never constructed
    torch.save({"model": {}, "hook": subprocess.Popen}, tmp_path / "object.pt")
    with pytest.raises(ConfigError, match="cannot be read safely.*Popen"):
        supernet.load(pretrained=True, ckpt_path=str(tmp_path / "object.pt"), device="cpu")


def test_a_fairseq_global_with_a_reduce_payload_stays_inert(tmp_path, monkeypatch):
    # A checkpoint whose fairseq.* entry unpickles by calling a function: the function must never run, even with
    # the module importable, and the weights still load.
    calls = []
    module = types.ModuleType("fairseq.hooks")

    def run(*args):
        calls.append(args)

    class Payload:
        def __reduce__(self):
            return run, ("echo pwned",)

    run.__module__, run.__qualname__ = "fairseq.hooks", "run"
    module.run = run
    monkeypatch.setitem(sys.modules, "fairseq", types.ModuleType("fairseq"))
    monkeypatch.setitem(sys.modules, "fairseq.hooks", module)
    source = demo_supernet()
    torch.save({"model": source.model.state_dict(), "extra_state": Payload()}, tmp_path / "ck.pt")
    assert calls == []
    loaded = demo_supernet(tmp_path / "ck.pt")
    assert calls == []
    theirs, ours = source.model.state_dict(), loaded.model.state_dict()
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
    # a module whose name only starts like an allowed one is not allowed
    run.__module__ = module.__name__ = "fairseqx"
    monkeypatch.setitem(sys.modules, "fairseqx", module)
    torch.save({"model": source.model.state_dict(), "extra_state": Payload()}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="cannot be read safely.*fairseqx.run"):
        demo_supernet(tmp_path / "other.pt")
    assert calls == []


def test_cached_checkpoint_is_found_without_a_path(copy_task, tmp_path, monkeypatch):
    from neural_nas.supernets.translation.supernet import CKPT_FILE

    _, trained = copy_task
    monkeypatch.setenv("NEURAL_NAS_CACHE", str(tmp_path))
    (tmp_path / "supernets").mkdir()
    (tmp_path / "supernets" / CKPT_FILE).write_bytes(trained.read_bytes())
    cached = register_demo()()
    cached.load(pretrained=True, ckpt_path=None, device="cpu")
    explicit = demo_supernet(trained)
    assert all(
        torch.equal(a, b) for a, b in zip(cached.model.state_dict().values(), explicit.model.state_dict().values())
    )


def test_export_round_trip_of_a_sub_network(copy_task, tmp_path, dynas_config):
    from neural_nas.export import load_subnet, save_subnet, standalone_subnet

    _, trained = copy_task
    supernet = register_demo()()
    config = dynas_config(DEMO_NAME, ("bleu", "macs"), supernet_ckpt_path=str(trained))
    subnet = supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(1, rng=4)[0])
    module = standalone_subnet(config, subnet)  # no BatchNorm: no data set needed
    files = save_subnet(module, supernet, subnet, tmp_path / "export", formats="torchscript")
    assert {"torchscript:encoder", "torchscript:decoder_step"} <= set(files)
    src, prev = supernet.example_inputs()
    assert src.shape == prev.shape == (1, DEMO_SPACE.sentence_length)
    generator = torch.Generator().manual_seed(0)
    other = tuple(torch.randint(4, DEMO_SPACE.vocab_size, src.shape, generator=generator) for _ in range(2))
    padded = (torch.cat([torch.full((1, 3), PAD), other[0][:, 3:]], dim=1), other[1])  # left-padded as fairseq's
    loaded = load_subnet(files["weights"])
    with torch.no_grad():
        for inputs in (other, padded):
            assert torch.equal(loaded(*inputs), module(*inputs))
    card = json.loads(files["description"].read_text())
    assert set(card["graphs"]) == {"encoder", "decoder_step"}
    assert card["input"]["decoding"]["cache_slots"] == DEMO_SPACE.max_positions  # min(200, 64 - 1) + 1


@pytest.fixture(scope="module")
def exported_translator(copy_task, tmp_path_factory):
    """The trained copy-task sub-network exported as pt2 and ONNX, its test sentences, and the library's greedy
    translations of them (beam search with a beam of one)."""
    from neural_nas.export import save_subnet

    data, trained = copy_task
    supernet = demo_supernet(trained)
    largest = supernet.encoding.vector_to_dict(np.zeros(supernet.encoding.n_genes, dtype=np.int64))
    module = supernet.active_subnet(largest).eval()
    folder = tmp_path_factory.mktemp("translator")
    save_subnet(module, supernet, largest, folder, formats=("pt2", "onnx"))
    sources = supernet.measurer(measure_ctx(["bleu"], data, eval_batch_size=8)).sources
    expected = [beam_search(module, batch, BeamSettings(beam=1)) for batch in sources]
    return folder, sources, expected


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_exported_graphs_translate_as_the_library_does(exported_translator, runtime):
    import translate_exported

    folder, sources, expected = exported_translator
    card = json.loads((folder / "subnet.json").read_text())
    graphs = (translate_exported.onnx_graphs if runtime == "onnx" else translate_exported.torch_graphs)(folder)
    for batch, library in zip(sources, expected):
        assert translate_exported.greedy(*graphs, card, batch.numpy()) == library
    assert sum(len(t) for batch in expected for t in batch) > 3 * len(expected)  # real translations, not empty ones


def test_the_exported_graphs_translate_without_the_library(exported_translator):
    """The example script, in a process where importing neural_nas fails, on the first test sentence's ids."""
    folder, sources, expected = exported_translator
    ids = " ".join(str(int(i)) for i in sources[0][0] if i != PAD)
    blocker = "import sys; sys.modules['neural_nas'] = None; sys.argv = sys.argv[1:]; import runpy; "
    blocker += "runpy.run_path(sys.argv[0], run_name='__main__')"
    for runtime in ("onnx", "torch"):
        script = str(EXAMPLES / "translate_exported.py")
        out = subprocess.run(
            [sys.executable, "-c", blocker, script, str(folder), ids, "--runtime", runtime],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.split() == [str(i) for i in expected[0][0]]


def test_a_failing_sub_network_is_its_failure_and_a_failing_library_is_not(copy_task, monkeypatch):
    from neural_nas.errors import MeasurementError
    from neural_nas.supernets.translation import beam as beam_mod
    from neural_nas.supernets.translation.model import Transformer

    data, trained = copy_task
    supernet = demo_supernet(trained)
    largest = supernet.encoding.vector_to_dict(np.zeros(39, dtype=np.int64))
    measure = supernet.measurer(measure_ctx(["bleu", "latency"], data))

    def broken(self, *args):
        raise RuntimeError("the sub-network's own bug")

    with monkeypatch.context() as patch:
        patch.setattr(Transformer, "decode_step", broken)
        with pytest.raises(MeasurementError, match="own bug"):
            measure(largest)

    def library_bug(*args, **kwargs):
        raise RuntimeError("a bug of the beam search")

    monkeypatch.setattr(beam_mod, "beam_search", library_bug)
    with pytest.raises(RuntimeError, match="beam search") as info:
        supernet.measurer(measure_ctx(["bleu"], data))(largest)
    assert not isinstance(info.value, MeasurementError)


def test_bleu_without_sacrebleu_fails_when_the_measurer_is_built(copy_task, monkeypatch):
    data, _ = copy_task
    for missing in ("sacrebleu", "sacremoses"):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, missing, None)  # import fails
            with pytest.raises(ImportError, match=rf"{missing}.*pip install 'neural-nas\[translation\]'"):
                register_demo()().measurer(measure_ctx(["bleu"], data))
    register_demo()().measurer(measure_ctx(["macs", "latency"], data))  # no BLEU: neither is needed


# ---- beam search, BLEU, latency -----------------------------------------------------------------------------------


def test_beam_of_one_is_greedy_decoding():
    supernet = demo_supernet()
    model = supernet.active_subnet(supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(1, rng=7)[0]))
    src = torch.tensor([[1, 1, 5, 6, 7, 2], [8, 9, 10, 11, 12, 2]])
    found = beam_search(model, src, BeamSettings(beam=1, max_len_b=12))
    for row, hyp in zip(src, found):
        tokens = [EOS]
        with torch.no_grad():
            for _ in range(12):
                logits = model(row[None, row.ne(1)], torch.tensor([tokens]))[0, -1]
                logits[1] = float("-inf")
                if len(tokens) == 1:
                    logits[EOS] = float("-inf")
                tokens.append(int(logits.argmax()))
                if tokens[-1] == EOS:
                    break
        expected = tokens[1:-1] if tokens[-1] == EOS else tokens[1:]
        assert hyp == expected


def test_bleu_is_the_mean_of_the_batches_corpus_bleu():
    d = Dictionary(["<s>", "<pad>", "</s>", "<unk>", "das", "Haus", "ist", "klein", "gro@@", "ß"])
    refs = [[4, 5, 6, 7, 2], [4, 5, 6, 8, 9, 2]]
    assert batch_bleu([r[:-1] for r in refs], refs, d, [0, 0]) == pytest.approx(100.0)
    one = batch_bleu([[4, 5, 6, 7]], [refs[0]], d, [0])
    other = batch_bleu([[4, 5, 6, 7]], [refs[1]], d, [0])
    assert batch_bleu([[4, 5, 6, 7], [4, 5, 6, 7]], refs, d, [0, 1]) == pytest.approx((one + other) / 2)
    # an unknown word never matches: <unk> against <unk> is not a hit
    assert batch_bleu([[3, 5, 6, 7]], [[3, 5, 6, 7, 2]], d, [0]) < 100


def test_bleu_of_a_trained_network_is_high_and_rises_from_random(copy_task):
    data, trained = copy_task
    untrained = demo_supernet()
    measured = register_demo()()
    measured.load(pretrained=True, ckpt_path=str(trained), device="cpu")
    largest = untrained.encoding.vector_to_dict(np.zeros(untrained.encoding.n_genes, dtype=np.int64))
    ctx = measure_ctx(["bleu", "macs", "latency"], data)
    before = untrained.measurer(ctx)(largest)
    after = measured.measurer(ctx)(largest)
    assert before["bleu"] < 5 and after["bleu"] > 50
    assert after["macs"] == before["macs"] == untrained.exact_metrics(np.zeros(39, dtype=np.int64))["macs"][0]
    assert after["latency"] > 0 and after["params"] == before["params"]
    # test_fraction takes a seeded part of the test set; the batch size changes the batches' BLEU mean, not the hyps
    half = measured.measurer(measure_ctx(["bleu"], data, test_fraction=0.5, eval_batch_size=5))
    assert sum(map(len, half.batches)) == 12 and max(map(len, half.batches)) == 5
    assert 0 < half(largest)["bleu"] <= 100


def test_a_full_search_writes_the_reference_csv_and_resumes(copy_task, in_tmp, dynas_config, monkeypatch):
    from neural_nas.supernets.translation import measurer as measurer_mod

    data, trained = copy_task
    register_demo()
    calls = []
    original = measurer_mod.TranslationMeasurer.__call__

    def counted(self, subnet):
        calls.append(subnet)
        return original(self, subnet)

    monkeypatch.setattr(measurer_mod.TranslationMeasurer, "__call__", counted)
    c = dynas_config(
        "transformer_lt_demo",
        ("bleu", "macs"),
        num_evals=11,
        inner_evals=200,
        results_csv_path="results.csv",
        dataset_path=str(data),
        supernet_ckpt_path=str(trained),
        test_fraction=0.25,
    )
    NAS(c).search()
    with open(in_tmp / "results.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["Sub-network", "Date", "Model Parameters", "Latency (ms)", "MACs", "BLEU"]
    assert len(rows) == 11 == len(calls)
    supernet = register_demo()()
    vectors = np.stack([supernet.encoding.dict_to_vector(ast.literal_eval(r[0])) for r in rows])
    exact = supernet.exact_metrics(vectors)
    assert [float(r[4]) for r in rows] == exact["macs"].tolist()
    assert [float(r[2]) for r in rows] == exact["params"].tolist()
    assert all(0 <= float(r[5]) <= 100 for r in rows) and max(float(r[5]) for r in rows) > 0
    calls.clear()
    NAS(c).search()  # resumes: everything is on disk
    assert calls == []


# ---- the example notebook -----------------------------------------------------------------------------------------

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook" / "dynas" / "Transformer_LT_Supernet_NAS.ipynb"


def test_notebook_is_stored_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    source = "\n".join(c.source for c in code)
    for key in ("supernet", "metrics", "population", "num_evals", "results_csv_path", "dataset_path"):
        assert f"config.dynas.{key} =" in source
    assert "config.dynas.supernet_ckpt_path = SUPERNET_CKPT_PATH" in source


def test_notebook_runs_reduced_on_the_tiny_data(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    for name in ("WMT_DATA_BIN", "HAT_SUPERNET_CKPT"):
        monkeypatch.delenv(name, raising=False)
    env = {"NAS_POPULATION": "10", "NAS_NUM_EVALS": "11", "NAS_INNER_EVALS": "200", "NAS_DEMO_STEPS": "150"}
    for name, value in {**env, "NAS_RESULTS_CSV": "results.csv", "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()
    with open(tmp_path / "results.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["Sub-network", "Date", "Model Parameters", "Latency (ms)", "MACs", "BLEU"] and len(rows) == 11
    supernet = register_demo()()
    vectors = np.stack([supernet.encoding.dict_to_vector(ast.literal_eval(r[0])) for r in rows])
    assert [float(r[4]) for r in rows] == supernet.exact_metrics(vectors)["macs"].tolist()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "11 sub-networks measured" in printed and "measured Pareto front:" in printed
    assert (tmp_path / "transformer_lt_search.png").stat().st_size > 10_000


def test_the_reference_results_file_resumes_as_earlier_results(in_tmp, dynas_config):
    import shutil

    shutil.copy(MACS_CSV, in_tmp / "earlier.csv")
    c = dynas_config(
        NAME, ("acc", "macs"), population=50, num_evals=100, results_csv_path="earlier.csv", dataset_path="/nonexistent"
    )
    agent = NAS(c)
    assert len(agent.search()) == 50  # 500 rows already >= num_evals: nothing measured, no data or weights needed
    bleu = [m["bleu"] for m in agent.search_results.values()]
    # 500 rows, 498 networks: rows 300/462 and 383/472 are one network each under other genes of decoder layers that
    # do not run (the reference measured them twice and got the same BLEU); each counts once
    assert len(bleu) == 498 and 21 < min(bleu) < max(bleu) < 28
    subnets = [t.arch for t in agent.study.trials[:20]]
    assert agent.create_acc_predictor().predict(subnets).shape == (20,)


def test_benchmark_smoke(capsys, monkeypatch):
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(benchmarks))
    import transformer_lt

    transformer_lt.main(["predictors", "--n-train", "60"])
    transformer_lt.main(["search", "--seeds", "1", "--ns", "10", "--population", "10", "--inner-evals", "200"])
    out = capsys.readouterr().out
    assert "500 rows, 498 distinct" in out and out.count(" 60 ") == 3
    for tactic in ("linas", "evolutionary", "random"):
        assert re.search(rf"{tactic} +seed 0: 40 measured", out)
    assert "measurements needed to reach random search's median HV" in out


def test_bleu_races_over_the_test_batches(copy_task, racing_check):
    data, trained = copy_task
    supernet = demo_supernet(trained)
    measure = supernet.measurer(measure_ctx(["bleu", "macs"], data, eval_batch_size=3))
    largest = supernet.encoding.vector_to_dict(np.zeros(supernet.encoding.n_genes, dtype=np.int64))
    whole, stopped = racing_check(measure, largest, "bleu", beyond=101.0)
    assert stopped.of == len(measure.batches) == 8 and stopped.samples == 1
    assert whole["bleu"] == pytest.approx(measure.bleu(supernet.active_subnet(largest)))
