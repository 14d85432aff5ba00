import copy

import pytest
import yaml

from neural_nas import NASConfig
from neural_nas.config import load_config
from neural_nas.config.schema import BY_PATH, KEYS
from neural_nas.errors import ConfigError

VALID = {
    "model": {"name": "my_model", "framework": "pytorch"},
    "device": "cpu",
    "version": 2.0,
    "nas": {
        "approach": "basic",
        "search": {
            "search_space": {"channels": [8, 16], "depth": [1, 2]},
            "search_algorithm": "grid",
            "metrics": ["acc", "params"],
            "higher_is_better": [True, False],
            "max_trials": 4,
            "seed": 7,
        },
    },
}


def test_defaults_of_the_reference():
    c = NASConfig()
    assert c.nas.approach is None
    assert c.nas.search.search_algorithm is None
    assert c.nas.search.max_trials is None  # the loop treats None as 3
    assert c.nas.search.seed == 42
    assert c.nas.search.higher_is_better is None
    d = c.dynas
    assert (
        d.population,
        d.num_evals,
        d.batch_size,
        d.eval_batch_size,
        d.num_workers,
        d.distributed,
        d.test_fraction,
    ) == (50, 100000, 64, 64, 20, False, 1.0)
    assert d.results_csv_path is None and d.dataset_path is None and d.supernet_ckpt_path is None


def test_python_and_yaml_forms_agree(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(VALID))
    from_yaml = load_config(str(path))
    c = NASConfig(approach="basic", search_space={"channels": [8, 16], "depth": [1, 2]}, search_algorithm="grid")
    c.nas.search.metrics = ["acc", "params"]
    c.nas.search.higher_is_better = [True, False]
    c.nas.search.max_trials = 4
    c.nas.search.seed = 7
    assert from_yaml.to_dict()["nas"] == c.to_dict()["nas"]
    assert from_yaml.get("model") == {"name": "my_model", "framework": "pytorch"}


def test_seed_document_python_form():
    config = NASConfig(approach="dynas", search_algorithm="nsga2")
    config.dynas.supernet = "ofa_mbv3_d234_e346_k357_w1.2"
    config.dynas.metrics = ["acc", "macs"]
    config.dynas.population = 50
    config.dynas.num_evals = 250
    config.dynas.results_csv_path = "search_results.csv"
    config.dynas.batch_size = 64
    config.dynas.dataset_path = "/datasets/imagenet-ilsvrc2012"
    config.nas.search.seed = 71
    assert config.nas.dynas.population == 50 and config.get("nas.dynas.metrics") == ["acc", "macs"]
    assert config.nas.search.seed == 71


def test_loading_never_mutates_callers_config():
    c = NASConfig(approach="basic")
    copy_ = load_config(c)
    copy_.nas.search.max_trials = 9
    assert c.nas.search.max_trials is None


def test_yaml_file_is_never_modified(tmp_path):
    path = tmp_path / "c.yaml"
    text = yaml.safe_dump(VALID)
    path.write_text(text)
    path.chmod(0o444)
    load_config(str(path))
    assert path.read_text() == text


def _with(path, value):
    doc = copy.deepcopy(VALID)
    node = doc
    *parents, leaf = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return doc


BAD = [
    # (document, key named in the message)
    (_with("nas.search.max_trials", 0), "nas.search.max_trials"),
    (_with("nas.search.max_trials", "ten"), "nas.search.max_trials"),
    (_with("nas.search.max_trials", 2.5), "nas.search.max_trials"),
    (_with("nas.search.max_trials", True), "nas.search.max_trials"),
    (_with("nas.search.seed", -1), "nas.search.seed"),
    (_with("nas.search.seed", "42"), "nas.search.seed"),
    (_with("nas.search.search_space", {}), "nas.search.search_space"),
    (_with("nas.search.search_space", [1, 2]), "nas.search.search_space"),
    (_with("nas.search.search_space", {"channels": []}), "nas.search.search_space.channels"),
    (_with("nas.search.search_space", {"channels": 8}), "nas.search.search_space.channels"),
    (_with("nas.search.search_space", {"channels": [8, 8]}), "nas.search.search_space.channels"),
    (_with("nas.search.metrics", "acc"), "nas.search.metrics"),
    (_with("nas.search.metrics", []), "nas.search.metrics"),
    (_with("nas.search.metrics", ["acc", 3]), "nas.search.metrics[1]"),
    (_with("nas.search.higher_is_better", ["yes"]), "nas.search.higher_is_better[0]"),
    (_with("nas.search.search_algorithm", 5), "nas.search.search_algorithm"),
    (_with("nas.search.serch_algorithm", "bo"), "nas.search.serch_algorithm"),
    (_with("nas.searches", {}), "nas.searches"),
    (_with("nas.approach", ["basic"]), "nas.approach"),
    (_with("nas.dynas.population", 5), "nas.dynas.population"),
    (_with("nas.dynas.num_evals", 0), "nas.dynas.num_evals"),
    (_with("nas.dynas.test_fraction", 0), "nas.dynas.test_fraction"),
    (_with("nas.dynas.test_fraction", 1.5), "nas.dynas.test_fraction"),
    (_with("nas.dynas.metrics", ["acc", "macs", "params", "lat"]), "nas.dynas.metrics"),
    (_with("nas.dynas.distributed", "no"), "nas.dynas.distributed"),
    (_with("nas.dynas.num_workers", -2), "nas.dynas.num_workers"),
    (_with("nas.dynas.batch_size", 0), "nas.dynas.batch_size"),
    (_with("nas.dynas.populaton", 50), "nas.dynas.populaton"),
    (_with("nas.search", "grid"), "nas.search"),
    (_with("nas", None), "nas"),
    ({"search": {}}, "nas"),
    (_with("unknown_section", {}), "unknown_section"),
]


@pytest.mark.parametrize(("document", "key"), BAD, ids=[k for _, k in BAD])
def test_bad_config_names_the_key(document, key):
    with pytest.raises(ConfigError) as info:
        NASConfig.from_dict(document)
    assert str(info.value).startswith(key + " ")
    assert info.value.key == key


def test_unknown_key_suggests_the_close_match():
    with pytest.raises(ConfigError, match="did you mean 'nas.dynas.population'"):
        NASConfig.from_dict(_with("nas.dynas.populaton", 50))


@pytest.mark.parametrize("key", KEYS, ids=[k.path for k in KEYS])
def test_every_schema_key_rejects_its_invalid_example(key):
    bad = key.constraint.invalid_example()
    with pytest.raises(ConfigError) as info:
        NASConfig.from_dict(_with(key.path, bad))
    assert key.path in str(info.value)


@pytest.mark.parametrize("key", KEYS, ids=[k.path for k in KEYS])
def test_every_schema_key_accepts_its_default_or_none(key):
    config = NASConfig.from_dict(_with(key.path, copy.deepcopy(key.default)))
    assert config.get(key.path) == key.default


def test_attribute_assignment_validates_at_once():
    c = NASConfig()
    with pytest.raises(ConfigError, match="nas.dynas.population must be an int in the range"):
        c.dynas.population = 3
    with pytest.raises(ConfigError, match="did you mean"):
        c.dynas.num_eval = 3
    with pytest.raises(AttributeError):
        _ = c.dynas.num_eval


def test_yaml_syntax_error_is_a_config_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("nas:\n  approach: [basic\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_config(str(path))


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("nas: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_config(str(path))


def test_dump_round_trip_through_yaml(tmp_path):
    c = NASConfig.from_dict(VALID)
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(c.to_dict(with_defaults=False)))
    assert load_config(str(path)) == c


def test_schema_has_the_spec_keys():
    for path in [
        "nas.approach",
        "nas.search.search_space",
        "nas.search.search_algorithm",
        "nas.search.metrics",
        "nas.search.higher_is_better",
        "nas.search.max_trials",
        "nas.search.seed",
        "nas.dynas.supernet",
        "nas.dynas.metrics",
        "nas.dynas.population",
        "nas.dynas.num_evals",
        "nas.dynas.results_csv_path",
        "nas.dynas.dataset_path",
        "nas.dynas.supernet_ckpt_path",
        "nas.dynas.batch_size",
        "nas.dynas.eval_batch_size",
        "nas.dynas.num_workers",
        "nas.dynas.distributed",
        "nas.dynas.test_fraction",
    ]:
        assert path in BY_PATH


def test_config_reference_doc_is_generated_from_the_schema():
    from pathlib import Path

    from neural_nas.config.reference import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"
    assert doc.read_text() == render(), "run: python -m neural_nas.config.reference > docs/config-reference.md"
    for key in KEYS:
        assert f"`{key.path}`" in doc.read_text()
