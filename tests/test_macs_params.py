"""Exact MACs/params: the generic hook counter against fvcore, and the super-networks' lookup tables against the
measured DyNAS-T CSVs and against counting the extracted sub-networks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neural_nas.measurements.counting import count_macs, count_macs_params, macs_from_positions, output_positions
from neural_nas.supernets import create_supernet

DATA = Path(__file__).resolve().parent / "data" / "dynast_ofa_mbv3_w1.0"  # a copy of shared/data (Apache-2.0)
CSVS = sorted(DATA.glob("*.csv"))
FAMILIES = [
    "ofa_mbv3_d234_e346_k357_w1.0",
    "ofa_mbv3_d234_e346_k357_w1.2",
    "ofa_proxyless_d234_e346_k357_w1.3",
    "ofa_resnet50",
]


def fvcore_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """fvcore's count restricted to its conv and linear/matmul operators (the convention of the CSVs)."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model.eval(), inputs)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    return int(sum(v for k, v in by_op.items() if k in ("conv", "linear", "addmm", "matmul")))


class Toy(nn.Module):
    """Grouped and depthwise convs, a 1x1 squeeze conv on a pooled map, a conv1d and a linear on a 3-D input."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 5, padding=2, groups=16)
        self.group = nn.Conv2d(16, 32, 3, stride=2, groups=4)
        self.squeeze = nn.Conv2d(32, 8, 1)
        self.seq = nn.Conv1d(8, 4, 3)
        self.fc = nn.Linear(6, 10)
        self.unused = nn.Linear(100, 100)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.group(self.dw(torch.relu(self.bn(self.stem(x)))))
        x = self.squeeze(x.mean((2, 3), keepdim=True) + x)
        x = self.seq(x.flatten(2)[:, :, :8])
        return self.fc(x)


def test_counter_matches_fvcore_on_a_toy_module() -> None:
    model, x = Toy(), torch.randn(2, 3, 33, 31)
    macs, params = count_macs_params(model, x)
    assert macs == fvcore_macs(model, x) > 0
    assert params == sum(p.numel() for p in model.parameters())
    # By hand for the stem: 2 x 17 x 16 output positions x (16 x 3 x 3 x 3) weights.
    assert output_positions(model, x)["stem"] == 2 * 17 * 16
    assert "unused" not in output_positions(model, x)


def test_counter_leaves_the_model_alone() -> None:
    model = Toy().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_macs_params(model, (1, 3, 32, 32))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks for m in model.modules())


def test_counting_on_meta_device_is_the_same() -> None:
    model = Toy()
    on_cpu = count_macs(model, (1, 3, 40, 40))
    assert count_macs(model.to("meta"), torch.zeros(1, 3, 40, 40, device="meta")) == on_cpu


def test_macs_from_positions_needs_every_layer() -> None:
    model = Toy()
    positions = output_positions(model, (1, 3, 32, 32))
    assert macs_from_positions(model, {k: v for k, v in positions.items() if k != "fc"}) is None
    # The unused layer never ran: it has no positions, so the shortcut refuses rather than guessing.
    assert macs_from_positions(model, positions) is None
    model.unused = nn.Identity()
    assert macs_from_positions(model, positions) == count_macs(model, (1, 3, 32, 32))


def _rows() -> list[dict]:
    return [row for path in CSVS for row in csv.DictReader(path.open())]


def test_tables_reproduce_every_measured_row() -> None:
    supernet = create_supernet("ofa_mbv3_d234_e346_k357_w1.0")
    rows = _rows()
    assert len(CSVS) == 5 and len(rows) == 2373
    assert len(CSVS) == 5 and len(rows) > 2000
    vectors = np.stack([supernet.encoding.dict_to_vector(supernet.parse_record(r["Sub-network"])) for r in rows])
    exact = supernet.exact_metrics(vectors)
    macs = np.array([int(r["MACs"]) for r in rows])
    params = np.array([int(r["Model Parameters"]) for r in rows])
    bad = np.flatnonzero((exact["macs"] != macs) | (exact["params"] != params))
    assert bad.size == 0, f"{bad.size} rows differ, e.g. {rows[bad[0]]['Sub-network'] if bad.size else ''}"
    assert exact["macs"].dtype.kind == "i" and exact["macs"].shape == (len(rows),)


@pytest.fixture(scope="module")
def loaded() -> dict:
    """One randomly initialised, loaded instance per family (extraction needs the real model)."""
    out = {}
    for name in FAMILIES:
        supernet = create_supernet(name)
        supernet.load(pretrained=False, ckpt_path=None, device="cpu")
        out[name] = supernet
    return out


@pytest.mark.parametrize("name", FAMILIES)
def test_tables_equal_counting_the_extracted_subnet(loaded: dict, name: str) -> None:
    supernet = loaded[name]
    enc = supernet.encoding
    # Smallest, largest, and two random sub-networks (extraction costs ~0.5 s each: keep it to a handful).
    vectors = np.vstack([np.zeros(enc.n_genes, np.int64), enc.cardinalities - 1, enc.random_vectors(2, rng=7)])
    exact = supernet.exact_metrics(vectors)
    for i, vector in enumerate(vectors):
        subnet = supernet.active_subnet(enc.vector_to_dict(vector)).to("meta")
        macs, params = count_macs_params(subnet, torch.zeros(1, 3, 224, 224, device="meta"))
        assert (int(exact["macs"][i]), int(exact["params"][i])) == (macs, params), enc.vector_to_dict(vector)
    assert exact["macs"][0] < exact["macs"][2] < exact["macs"][1]


def test_counter_matches_fvcore_on_an_extracted_subnet(loaded: dict) -> None:
    supernet = loaded["ofa_mbv3_d234_e346_k357_w1.0"]
    vector = supernet.encoding.random_vectors(1, rng=3)[0]
    subnet = supernet.active_subnet(supernet.encoding.vector_to_dict(vector))
    x = torch.zeros(1, 3, 224, 224)
    assert count_macs(subnet, x) == fvcore_macs(subnet, x) == int(supernet.exact_metrics(vector)["macs"][0])


def test_exact_metrics_accepts_one_vector_and_checks_width() -> None:
    supernet = create_supernet("ofa_proxyless_d234_e346_k357_w1.3")
    vector = supernet.encoding.random_vectors(1, rng=0)[0]
    one = supernet.exact_metrics(vector)
    assert one["macs"].shape == (1,)
    assert one["macs"][0] == supernet.exact_metrics(np.vstack([vector, vector]))["macs"][1]
    with pytest.raises(ValueError, match="45 genes"):
        supernet.exact_metrics(np.zeros((2, 44), np.int64))


def test_exact_metrics_depend_on_active_blocks_only() -> None:
    supernet = create_supernet("ofa_mbv3_d234_e346_k357_w1.0")
    vector = supernet.encoding.random_vectors(1, rng=5)[0]
    vector[40] = 0  # stage 1 at depth 2: ks/e genes 2 and 3 are inactive
    other = vector.copy()
    other[[2, 3, 22, 23]] = (other[[2, 3, 22, 23]] + 1) % 3
    a, b = supernet.exact_metrics(np.vstack([vector, other])).values()
    assert a[0] == a[1] and b[0] == b[1]
    other[0] = (other[0] + 1) % 3  # an active block
    assert supernet.exact_metrics(other)["macs"][0] != a[0]
