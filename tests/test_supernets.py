"""Super-network registry and protocol, the OFA encodings and records, and weights resolution/loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neural_nas.errors import ConfigError
from neural_nas.supernets import SuperNetwork, _weights, create_supernet, supernet_registry

MBV3 = "ofa_mbv3_d234_e346_k357_w1.0"
SPECS = {
    "ofa_mbv3_d234_e346_k357_w1.0": {"ks": (20, [3, 5, 7]), "e": (20, [3, 4, 6]), "d": (5, [2, 3, 4])},
    "ofa_mbv3_d234_e346_k357_w1.2": {"ks": (20, [3, 5, 7]), "e": (20, [3, 4, 6]), "d": (5, [2, 3, 4])},
    "ofa_proxyless_d234_e346_k357_w1.3": {"ks": (20, [3, 5, 7]), "e": (20, [3, 4, 6]), "d": (5, [2, 3, 4])},
    "ofa_resnet50": {"d": (5, [0, 1, 2]), "e": (18, [0.2, 0.25, 0.35]), "w": (6, [0, 1, 2])},
}
SPEC_VECTOR = [
    1,
    2,
    2,
    2,
    2,
    2,
    1,
    2,
    0,
    2,
    1,
    1,
    0,
    0,
    1,
    1,
    2,
    2,
    1,
    0,
    1,
    1,
    2,
    1,
    0,
    1,
    0,
    2,
    2,
    2,
    0,
    0,
    2,
    2,
    2,
    2,
    1,
    1,
    2,
    1,
    2,
    0,
    2,
    0,
    0,
]
SPEC_DICT = {
    "ks": [5, 7, 7, 7, 7, 7, 5, 7, 3, 7, 5, 5, 3, 3, 5, 5, 7, 7, 5, 3],
    "e": [4, 4, 6, 4, 3, 4, 3, 6, 6, 6, 3, 3, 6, 6, 6, 6, 4, 4, 6, 4],
    "d": [4, 2, 4, 2, 2],
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_encoding_spec(name: str) -> None:
    supernet = create_supernet(name)
    assert isinstance(supernet, SuperNetwork)
    assert supernet.name == name
    assert list(supernet.encoding.params) == list(SPECS[name])
    for param, (count, choices) in SPECS[name].items():
        assert supernet.encoding.params[param] == {"count": count, "vars": choices}
    assert supernet.encoding.n_genes == sum(count for count, _ in SPECS[name].values())
    assert supernet.image_size == 224
    assert set(supernet.metrics) == {"accuracy_top1", "macs", "params", "latency"}


def test_registered_names_and_keys_agree() -> None:
    assert set(SPECS) <= set(supernet_registry.names())
    for name in supernet_registry.names():
        assert supernet_registry.get(name).name == name


def test_spec_example_vector_dict_onehot() -> None:
    enc = create_supernet(MBV3).encoding
    assert enc.vector_to_dict(SPEC_VECTOR) == SPEC_DICT
    assert enc.dict_to_vector(SPEC_DICT).tolist() == SPEC_VECTOR
    onehot = enc.onehot(np.array(SPEC_VECTOR))
    assert onehot.shape == (135,) and onehot.sum() == 45


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        create_supernet("ofa_mbv3_d234_e346_k357_w1.1")
    message = str(info.value)
    assert "nas.dynas.supernet" in message and "did you mean" in message and "ofa_resnet50" in message


def test_mbv3_record_format_and_round_trip() -> None:
    supernet = create_supernet(MBV3)
    record = supernet.subnet_record(supernet.encoding.vector_to_dict(np.array(SPEC_VECTOR)))
    assert record == {"wid": None, **SPEC_DICT, "r": [224]}
    assert list(record) == ["wid", "ks", "e", "d", "r"]
    assert supernet.parse_record(record) == SPEC_DICT
    # The CSV column holds the dict's Python literal.
    assert supernet.parse_record(str(record)) == SPEC_DICT


@pytest.mark.parametrize("name", sorted(SPECS))
def test_record_round_trip(name: str) -> None:
    supernet = create_supernet(name)
    for vector in supernet.encoding.random_vectors(5, rng=0):
        subnet = supernet.encoding.vector_to_dict(vector)
        record = supernet.subnet_record(subnet)
        # Plain Python values only: the literal must read back with ast.literal_eval.
        assert supernet.parse_record(repr(record)) == subnet
        assert supernet.encoding.dict_to_vector(supernet.parse_record(record)).tolist() == vector.tolist()


def test_bad_record_is_a_config_error() -> None:
    supernet = create_supernet(MBV3)
    with pytest.raises(ConfigError, match="ks"):
        supernet.parse_record({**SPEC_DICT, "ks": [4] * 20})
    with pytest.raises(ConfigError):
        supernet.parse_record("{'ks': [3]")


def test_features_ignore_inactive_blocks() -> None:
    mbv3, resnet = create_supernet(MBV3), create_supernet("ofa_resnet50")
    vector = np.array(SPEC_VECTOR)
    features = mbv3.features(vector[None, :])
    assert features.shape == (1, 180)  # active-block one-hot (135) + the 45 genes' scaled values
    # Stage 2 has depth 2 (d[1] = 2): its blocks 3 and 4 (genes 6, 7 of ks) do not change the features.
    changed = vector.copy()
    changed[6] = (changed[6] + 1) % 3
    assert np.array_equal(mbv3.features(changed[None, :]), features)
    changed[4] = (changed[4] + 1) % 3  # stage 2, block 1: active
    assert not np.array_equal(mbv3.features(changed[None, :]), features)
    vectors = resnet.encoding.random_vectors(4, rng=1)
    assert np.array_equal(resnet.features(vectors), resnet.encoding.onehot(vectors))


def test_base_class_defaults() -> None:
    from neural_nas.supernets.encoding import Encoding

    class Toy(SuperNetwork):
        name = "toy"
        encoding = Encoding({"width": {"count": 2, "vars": [8, 16]}})

    toy = Toy()
    vectors = np.array([[0, 1], [1, 1]])
    assert np.array_equal(toy.features(vectors), toy.encoding.onehot(vectors))
    assert toy.exact_metrics(vectors) == {}
    assert toy.parse_record(toy.subnet_record({"width": [np.int64(8), 16]})) == {"width": [8, 16]}
    assert toy.load(pretrained=False, ckpt_path=None, device="cpu") is None  # nothing to load by default
    with pytest.raises(ConfigError, match="toy.*neither"):
        toy.active_subnet({"width": [8, 16]})  # neither extracts nor measures itself: a contract error, not a failure
    with pytest.raises(NotImplementedError):
        toy.measure({"width": [8, 16]}, ["macs"])


def test_a_super_network_that_measures_must_declare_it() -> None:
    from neural_nas.supernets.encoding import Encoding

    with pytest.raises(TypeError, match="measures_itself = True"):

        class Undeclared(SuperNetwork):
            name = "undeclared"
            encoding = Encoding({"width": {"count": 1, "vars": [8, 16]}})

            def measure(self, subnet, metrics):
                return {"macs": 1.0}


def test_import_is_light() -> None:
    code = (
        "import sys, neural_nas.supernets as s; assert len(s.supernet_registry.names()) >= 4; "
        "print('torch' in sys.modules, 'ofa' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---- weights ---------------------------------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache folder and a downloader that fails (and never touches the network)."""
    calls = []

    def fail(url: str, dest: Path, timeout: float = 60.0) -> None:
        calls.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setenv(_weights.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(_weights, "download", fail)
    return tmp_path


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_weights.CACHE_ENV, str(tmp_path))
    assert _weights.cache_dir() == tmp_path / "supernets"
    monkeypatch.delenv(_weights.CACHE_ENV)
    assert _weights.cache_dir() == Path.home() / ".cache" / "neural_nas" / "supernets"


def test_offline_error_says_where_to_put_the_file(offline: Path) -> None:
    supernet = create_supernet(MBV3)
    with pytest.raises(ConfigError) as info:
        supernet.load(pretrained=True, ckpt_path=None, device="cpu")
    message = str(info.value)
    assert "nas.dynas.supernet_ckpt_path" in message
    assert str(offline / "cache" / "supernets" / MBV3) in message
    assert "NEURAL_NAS_CACHE" in message and "network is unreachable" in message
    with pytest.raises(RuntimeError, match="load"):
        _ = supernet.model  # nothing built for nothing


def test_missing_explicit_path_is_a_config_error(offline: Path) -> None:
    with pytest.raises(ConfigError, match="nas.dynas.supernet_ckpt_path"):
        create_supernet(MBV3).load(pretrained=True, ckpt_path=str(offline / "nope.pth"), device="cpu")


def test_random_init_needs_no_file(offline: Path) -> None:
    a, b = create_supernet(MBV3), create_supernet(MBV3)
    a.load(pretrained=False, ckpt_path=None, device="cpu")
    b.load(pretrained=False, ckpt_path=None, device="cpu")
    # Seeded: two random inits agree (and the global torch RNG is not consumed).
    state = torch.random.get_rng_state()
    assert torch.equal(a.model.first_conv.conv.weight, b.model.first_conv.conv.weight)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.fixture(scope="module")
def random_state() -> dict:
    """A state dict of the MobileNetV3 w1.0 super-network that differs from the seeded random init."""
    supernet = create_supernet(MBV3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = supernet.build()
    return model.state_dict()


@pytest.mark.parametrize("wrapped", [True, False])
def test_saved_state_dict_round_trips(offline: Path, random_state: dict, wrapped: bool) -> None:
    path = offline / "weights.pth"
    torch.save({"state_dict": random_state} if wrapped else random_state, path)
    supernet = create_supernet(MBV3)
    supernet.load(pretrained=True, ckpt_path=str(path), device="cpu")
    loaded = supernet.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in random_state.items())
    subnet = supernet.active_subnet(supernet.encoding.vector_to_dict(np.array(SPEC_VECTOR)))
    assert torch.equal(subnet.first_conv.conv.weight, random_state["first_conv.conv.weight"])


def test_cached_file_is_found_without_download(offline: Path, random_state: dict) -> None:
    cached = offline / "cache" / "supernets" / MBV3
    cached.parent.mkdir(parents=True)
    torch.save({"state_dict": random_state}, cached)
    supernet = create_supernet(MBV3)
    supernet.load(pretrained=True, ckpt_path=None, device="cpu")  # the failing downloader is never needed
    assert torch.equal(supernet.model.first_conv.conv.weight, random_state["first_conv.conv.weight"])


def test_corrupt_file_is_a_config_error(offline: Path) -> None:
    path = offline / "corrupt.pth"
    path.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(ConfigError) as info:
        create_supernet(MBV3).load(pretrained=True, ckpt_path=str(path), device="cpu")
    assert str(path) in str(info.value)


def test_pickled_object_is_refused(offline: Path) -> None:
    path = offline / "object.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Path("x")}, path)  # not loadable with weights_only
    with pytest.raises(ConfigError, match="weights"):
        _weights.load_state_dict(path)


@pytest.mark.parametrize("state", [{"foo.weight": torch.zeros(3)}, {}])
def test_other_architecture_is_a_config_error(offline: Path, state: dict) -> None:
    path = offline / "other.pth"
    torch.save(state, path)
    with pytest.raises(ConfigError) as info:
        create_supernet(MBV3).load(pretrained=True, ckpt_path=str(path), device="cpu")
    assert str(path) in str(info.value) and MBV3 in str(info.value)


def test_wrong_shapes_are_a_config_error(offline: Path, random_state: dict) -> None:
    path = offline / "w12.pth"
    torch.save(random_state, path)  # a w1.0 checkpoint offered to the w1.2 super-network
    with pytest.raises(ConfigError) as info:
        create_supernet("ofa_mbv3_d234_e346_k357_w1.2").load(pretrained=True, ckpt_path=str(path), device="cpu")
    assert str(path) in str(info.value)


def test_download_is_atomic_and_checks_content(tmp_path: Path) -> None:
    source = tmp_path / "src.pth"
    torch.save({"w": torch.ones(2)}, source)
    dest = tmp_path / "cache" / "net"
    _weights.download(source.as_uri(), dest)  # file:// needs no network
    assert torch.equal(torch.load(dest, weights_only=True)["w"], torch.ones(2))

    page = tmp_path / "page.html"
    page.write_text("<html>quota exceeded</html>")
    bad = tmp_path / "cache" / "other"
    with pytest.raises(OSError, match="torch checkpoint"):
        _weights.download(page.as_uri(), bad)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["net"]  # no partial or bad file left behind


def test_extracting_before_load_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="load"):
        create_supernet(MBV3).active_subnet(SPEC_DICT)
