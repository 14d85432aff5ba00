"""``hf_causal_lm``: a Hugging Face decoder folder as a super-network, on tiny generated models (tests/lm_data.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from neural_nas import NAS  # noqa: E402
from neural_nas.errors import ConfigError  # noqa: E402
from neural_nas.measurements.context import MeasureContext  # noqa: E402
from neural_nas.supernets import create_supernet  # noqa: E402
from tests.lm_data import make_model_dir, write_text_folder  # noqa: E402

FAMILIES = ("gpt2", "llama", "mistral", "qwen2", "qwen3")


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    return write_text_folder(tmp_path_factory.mktemp("text"), train=200, valid=60)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {family: make_model_dir(root / family, family) for family in FAMILIES}


def settings(model_dir, text, tmp_path, **changes):
    values = {
        "supernet_ckpt_path": str(model_dir),
        "dataset_path": str(text),
        "calibration_size": 4,
        "sequence_length": 24,
        "results_csv_path": str(tmp_path / "results.csv"),
        "eval_batch_size": 4,
        "batch_size": 1,
        "latency_warmup": 0,
        "latency_steps": 1,
        "test_fraction": 1.0,
    }
    return SimpleNamespace(**{**values, **changes})


def loaded(model_dir, text, tmp_path, **changes):
    s = settings(model_dir, text, tmp_path, **changes)
    supernet = create_supernet("hf_causal_lm", s)
    supernet.load(pretrained=True, ckpt_path=str(model_dir), device="cpu")
    return supernet, MeasureContext(("perplexity", "params"), s, "cpu", 0)


def random_subnets(supernet, n, seed=0):
    return [supernet.encoding.vector_to_dict(v) for v in supernet.encoding.random_vectors(n, rng=seed)]


# --- genes and exact costs -------------------------------------------------------------------------------------


def test_genes_come_from_the_model_folder_s_config(model_dirs, text, tmp_path):
    gpt2 = create_supernet("hf_causal_lm", settings(model_dirs["gpt2"], text, tmp_path))
    llama = create_supernet("hf_causal_lm", settings(model_dirs["llama"], text, tmp_path))
    assert gpt2.encoding.params == {
        "keep_layer": {"count": 3, "vars": [0, 1]},
        "kv_heads": {"count": 3, "vars": [1, 2, 3, 4]},  # GPT-2: a head is its own group
        "mlp_channels": {"count": 3, "vars": [16, 32, 48, 64]},
    }
    assert llama.encoding.params["kv_heads"]["vars"] == [1, 2]  # 2 key/value groups of 2 query heads
    with pytest.raises(ConfigError, match="supernet_ckpt_path"):
        create_supernet("hf_causal_lm", settings(model_dirs["llama"], text, tmp_path, supernet_ckpt_path=None))
    with pytest.raises(ConfigError, match="config.json"):
        create_supernet("hf_causal_lm", settings(tmp_path, text, tmp_path))


@pytest.mark.parametrize("family", FAMILIES)
def test_exact_params_macs_and_size_match_the_extracted_model(family, model_dirs, text, tmp_path):
    """Closed forms against counting: the parameters of the extracted model, and torch's FLOP counter on one token
    (two FLOPs per multiply-accumulate)."""
    from torch.utils.flop_counter import FlopCounterMode

    supernet, _ = loaded(model_dirs[family], text, tmp_path)
    subnets = random_subnets(supernet, 6, seed=1)
    subnets.append(supernet.encoding.vector_to_dict(np.zeros(supernet.encoding.n_genes, dtype=int)))  # no layer
    for subnet in subnets:
        vector = supernet.encoding.dict_to_vector(subnet)
        exact = {k: float(v[0]) for k, v in supernet.exact_metrics(vector[None]).items()}
        model = supernet.active_subnet(subnet)
        assert exact["params"] == sum(p.numel() for p in model.parameters())
        assert exact["model_size"] == pytest.approx(exact["params"] * 4 / 1e6)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(input_ids=torch.tensor([[3]]), use_cache=False)
        weights = {"aten.mm", "aten.addmm"}
        counted = sum(n for op, n in counter.get_flop_counts()["Global"].items() if str(op) in weights)
        assert exact["macs"] == counted / 2


# --- importance order ------------------------------------------------------------------------------------------


def test_importance_order_keeps_the_model_s_outputs_and_is_cached(model_dirs, text, tmp_path, monkeypatch):
    from neural_nas.supernets.lm import importance

    supernet, ctx = loaded(model_dirs["llama"], text, tmp_path)
    x = torch.randint(0, 60, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = supernet.model(input_ids=x).logits
        supernet.ordered(ctx)
        after = supernet.model(input_ids=x).logits
    assert torch.allclose(before, after, atol=1e-5)
    cache = tmp_path / "results.csv.importance.safetensors"
    assert cache.is_file()

    def fail(*args, **kwargs):
        raise AssertionError("scores recomputed although cached")

    monkeypatch.setattr(importance, "importance_scores", fail)
    again, ctx2 = loaded(model_dirs["llama"], text, tmp_path)
    again.ordered(ctx2)  # read from the cache
    first, second = (s.model.model.layers[0].self_attn.k_proj.weight for s in (supernet, again))
    assert torch.equal(first, second)
    other_text = write_text_folder(tmp_path / "other", train=50, valid=10, seed=7)
    stale, ctx3 = loaded(model_dirs["llama"], other_text, tmp_path)
    with pytest.raises(AssertionError, match="recomputed"):
        stale.ordered(ctx3)  # other calibration text: the cached scores are not used


def test_the_most_important_group_and_channels_come_first(model_dirs, text, tmp_path):
    """A key/value group whose heads output nothing and MLP channels that never fire score lowest: a sub-network that
    keeps one group and a quarter of the channels keeps the others."""
    supernet, ctx = loaded(model_dirs["llama"], text, tmp_path)
    layer = supernet.model.model.layers[0]
    with torch.no_grad():
        layer.self_attn.v_proj.weight[:8] = 0  # group 0's values (head size 8): its two query heads output zeros
        layer.mlp.up_proj.weight[:48] = 0  # channels 0..47 never fire
    kept_key = layer.self_attn.k_proj.weight[8:16].clone()  # group 1's key rows
    supernet.ordered(ctx)
    layer = supernet.model.model.layers[0]
    assert torch.equal(layer.self_attn.k_proj.weight[:8], kept_key)
    assert layer.mlp.up_proj.weight[:16].abs().sum() > 0 and layer.mlp.up_proj.weight[48:].abs().sum() == 0


# --- perplexity --------------------------------------------------------------------------------------------------


def test_a_dropped_layer_s_other_genes_make_no_other_network(model_dirs, text, tmp_path):
    supernet = create_supernet("hf_causal_lm", settings(model_dirs["llama"], text, tmp_path))
    vectors = supernet.encoding.random_vectors(500, rng=0)
    canonical = supernet.canonical(vectors)
    assert (supernet.exact_metrics(canonical)["params"] == supernet.exact_metrics(vectors)["params"]).all()
    kept = canonical[:, :3] == 1
    assert (canonical[:, 3:6][~kept] == 0).all() and (canonical[:, 6:][~kept] == 0).all()
    assert supernet.n_networks() == (1 + 2 * 4) ** 3  # per layer: dropped, or one of 2 x 4 widths

    # A GPT-2 that scales attention by the layer's position keeps its layers: only widths vary
    config = json.loads((model_dirs["gpt2"] / "config.json").read_text()) | {"scale_attn_by_inverse_layer_idx": True}
    (tmp_path / "scaled").mkdir()
    (tmp_path / "scaled" / "config.json").write_text(json.dumps(config))
    scaled = create_supernet("hf_causal_lm", settings(tmp_path / "scaled", text, tmp_path))
    assert scaled.encoding.params["keep_layer"]["vars"] == [1] and scaled.n_networks() == (4 * 4) ** 3


def test_every_token_is_scored_once_with_half_a_window_of_context():
    from neural_nas.supernets.lm.measure import scored_windows

    for n, window in [(100, 24), (24, 24), (25, 24), (7, 24), (50, 2)]:
        windows = list(scored_windows(n, window))
        scored = [t for _, end, first in windows for t in range(first, end)]
        assert scored == list(range(1, n))
        for begin, end, first in windows[1:]:
            assert end - begin <= window and first - begin >= window // 2


def test_perplexity_is_the_model_s_own_loss_in_one_window_and_context_helps(model_dirs, text, tmp_path):
    """One window over the whole text: exactly transformers' own language-modelling loss. Shorter windows give each
    token less context: a model that learned nothing is indifferent, so they agree to rounding."""
    from neural_nas.supernets.lm.measure import perplexity

    supernet, _ = loaded(model_dirs["qwen2"], text, tmp_path)
    model = supernet.active_subnet(random_subnets(supernet, 1, seed=2)[0])
    ids = torch.randint(0, 64, (40,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss = model(input_ids=ids[None], labels=ids[None]).loss
    assert perplexity(model, ids, window=40, batch_size=2) == pytest.approx(float(torch.exp(loss)), rel=1e-5)
    assert perplexity(model, ids, window=8, batch_size=2) == pytest.approx(float(torch.exp(loss)), rel=0.05)


def test_a_model_that_predicts_nothing_has_the_vocabulary_s_perplexity(model_dirs, text, tmp_path):
    from neural_nas.supernets.lm.measure import perplexity

    supernet, _ = loaded(model_dirs["llama"], text, tmp_path)
    model = supernet.active_subnet(random_subnets(supernet, 1)[0])
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0: a uniform distribution
    ids = torch.randint(0, 64, (100,), generator=torch.Generator().manual_seed(0))
    assert perplexity(model, ids, window=24, batch_size=3) == pytest.approx(64, rel=1e-5)


# --- the search, its constraints and export ----------------------------------------------------------------------


def lm_config(dynas_config, model_dir, text, **changes):
    c = dynas_config("hf_causal_lm", ("perplexity", "params"), num_evals=12, population=10)
    values = {
        "supernet_ckpt_path": str(model_dir),
        "dataset_path": str(text),
        "pretrained": True,
        "calibration_size": 4,
        "sequence_length": 24,
        "eval_batch_size": 4,
        "results_csv_path": "results.csv",
        "device": "cpu",
        **changes,
    }
    for key, value in values.items():
        setattr(c.dynas, key, value)
    return c


def test_a_constrained_search_measures_only_sub_networks_within_it_and_resumes(in_tmp, dynas_config, model_dirs, text):
    from neural_nas.plotting import load_results

    supernet = create_supernet("hf_causal_lm", SimpleNamespace(supernet_ckpt_path=str(model_dirs["llama"])))
    limit = float(np.median(supernet.exact_metrics(supernet.encoding.random_vectors(200, rng=0))["params"]))
    c = lm_config(dynas_config, model_dirs["llama"], text, constraints=[f"params<={limit}"])
    agent = NAS(c)
    agent.search()
    predictor = agent.create_predictor("ppl")  # perplexity is learnt as its logarithm: predictions stay positive
    assert predictor.log and (predictor.predict(supernet.encoding.random_vectors(50, rng=1)) > 0).all()
    results = load_results(in_tmp / "results.csv", ["perplexity", "params"])
    assert len(results.points) == 12
    assert all(p["params"] <= limit and p["perplexity"] >= 1 for p in results.points)
    assert (in_tmp / "results.csv.importance.safetensors").is_file()
    before = (in_tmp / "results.csv").read_bytes()
    NAS(c).search()  # finished: resumes, measures nothing
    assert (in_tmp / "results.csv").read_bytes() == before


def test_a_constraint_on_a_measured_metric_is_refused(in_tmp, dynas_config, model_dirs, text):
    c = lm_config(dynas_config, model_dirs["llama"], text, constraints=["perplexity<=20"])
    with pytest.raises(ConfigError, match="--where"):
        NAS(c)


LOAD_WITHOUT_THE_LIBRARY = """
import json, sys
sys.modules["neural_nas"] = None  # importing the library now fails
import numpy as np, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, x = sys.argv[1], torch.from_numpy(np.load(sys.argv[2]))
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
tokens = AutoTokenizer.from_pretrained(folder)("the cat sees the ball .")["input_ids"]
with torch.no_grad():
    print(json.dumps([model(input_ids=x).logits.tolist(), len(tokens)]))
"""


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_export_writes_a_hugging_face_folder_that_transformers_loads_alone(family, model_dirs, text, tmp_path):
    from neural_nas.export import save_subnet

    supernet, ctx = loaded(model_dirs[family], text, tmp_path)
    enc = supernet.encoding
    mixed = enc.vector_to_dict(enc.random_vectors(1, rng=3)[0])
    mixed["keep_layer"] = [1, 0, 1]
    mixed["mlp_channels"] = [16, 64, 48]  # different widths per layer: the folder carries its own model class
    # Uniform widths: the family's own config says them (Llama: one key/value group of two, so fewer query heads).
    kv = enc.params["kv_heads"]["vars"][-1 if family == "gpt2" else 0]
    uniform = {"keep_layer": [1, 1, 0], "kv_heads": [kv] * 3, "mlp_channels": [32] * 3}
    x = torch.randint(0, 60, (2, 9), generator=torch.Generator().manual_seed(0))
    np.save(tmp_path / "x.npy", x.numpy())
    for name, subnet in (("mixed", mixed), ("uniform", uniform)):
        module = supernet.standalone(subnet, ctx)
        formats = ["hf", "pt2"] + (["onnx"] if family == "llama" else [])  # token ids, dynamic batch and length
        files = save_subnet(module, supernet, subnet, tmp_path / name, formats=formats)
        folder = files["hf"]
        config = json.loads((folder / "config.json").read_text())
        assert ((folder / "modeling_pruned.py").exists()) == (name == "mixed") == ("pruned_layers" in config)
        card = json.loads(files["description"].read_text())
        # model_size is the weights file's size, its JSON header aside
        weights_bytes = (folder / "model.safetensors").stat().st_size
        assert 0 < weights_bytes - card["exact_metrics"]["model_size"] * 1e6 < 16_384
        assert set(card["parity"]) == set(formats)
        assert all(card["parity"][f]["subnet"]["max_abs_diff"] <= 1e-4 for f in formats)
        out = subprocess.run(
            [sys.executable, "-c", LOAD_WITHOUT_THE_LIBRARY, str(folder), str(tmp_path / "x.npy")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        logits, n_tokens = json.loads(out)
        with torch.no_grad():
            expected = module(input_ids=x).logits
        assert np.allclose(np.array(logits), expected.numpy(), atol=1e-4) and n_tokens == 6  # the tokenizer came along


def test_a_saved_sub_network_reloads_with_its_model_folder(model_dirs, text, tmp_path):
    from neural_nas.export import load_subnet, save_subnet

    supernet, ctx = loaded(model_dirs["llama"], text, tmp_path)
    subnet = random_subnets(supernet, 1, seed=5)[0]
    module = supernet.standalone(subnet, ctx)
    files = save_subnet(module, supernet, subnet, tmp_path / "out")
    x = torch.randint(0, 60, (1, 7))
    with torch.no_grad():
        assert torch.allclose(load_subnet(files["weights"])(input_ids=x).logits, module(input_ids=x).logits)
