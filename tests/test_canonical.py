"""Each network is measured at most once per search (issue 14): a super-network declares the canonical form of its
encodings, the driver measures and records canonical forms only, and a file written before resumes mapped to them."""

import csv
import itertools

import numpy as np
import pytest

from neural_nas import NAS
from neural_nas.supernets import Encoding, SuperNetwork, create_supernet, supernet_registry
from neural_nas.supernets.ofa_mbv3 import OFAMBConvSuperNetwork
from tests.synthetic_supernet import Synthetic, genes

SUPERNETS = [
    "ofa_mbv3_digits",
    "ofa_mbv3_d234_e346_k357_w1.0",
    "ofa_proxyless_d234_e346_k357_w1.3",
    "ofa_resnet50",
    "transformer_lt_wmt_en_de",
    "bert_base_sst2",
    "inc_quantization_ofa_resnet50",
]


@pytest.mark.parametrize("name", SUPERNETS)
def test_the_canonical_form_is_the_same_network(name):
    supernet = create_supernet(name)
    vectors = supernet.encoding.random_vectors(500, 0)
    canonical = supernet.canonical(vectors)
    assert (supernet.canonical(canonical) == canonical).all()  # idempotent
    exact, again = supernet.exact_metrics(vectors), supernet.exact_metrics(canonical)
    assert all((exact[m] == again[m]).all() for m in exact)  # the same network: the same MACs and parameters
    assert (canonical != vectors).any(axis=1).mean() > 0.5  # most random encodings have inactive genes
    # every encoding that differs from a canonical form only where it is normalised maps back to it
    replacement = supernet.encoding.random_vectors(500, 1)
    if name in ("ofa_resnet50", "inc_quantization_ofa_resnet50"):
        replacement[:, 0] %= 2  # d[0]: 0 and 1 are one network (no stem block), 2 another
    other = supernet.canonical(np.where(canonical == vectors, vectors, replacement))
    assert (other == canonical).all()


class TinyMBConv(OFAMBConvSuperNetwork):
    """The MobileNetV3 gene layout at a size that can be enumerated: 2 stages of 2 blocks."""

    encoding = Encoding(
        {"ks": {"count": 4, "vars": [3, 5]}, "e": {"count": 4, "vars": [3, 4]}, "d": {"count": 2, "vars": [1, 2]}}
    )


def test_the_count_of_distinct_networks_matches_an_enumeration():
    supernet = TinyMBConv()
    every = np.array(list(itertools.product(*(range(c) for c in supernet.encoding.cardinalities))))
    assert len({tuple(v) for v in supernet.canonical(every)}) == supernet.n_networks() == (4 + 16) ** 2


class WithInactiveGenes(Synthetic):
    """Genes ``b`` count only where ``a`` is not 0 (as blocks beyond a stage's depth): 3 + 9... distinct networks."""

    name = "synthetic_inactive"
    encoding = genes(2)
    calls: list = []

    def canonical(self, vectors):
        out = np.array(vectors, dtype=np.int64, ndmin=2)
        b = out[:, 2:]
        b[out[:, :2] == 0] = 0
        return out

    def n_networks(self):
        return (1 + 3 * 3) ** 2  # per position: a = 0 (b inactive), or a in 1..3 with b in 3 choices

    def measure(self, subnet, metrics):
        assert self.canonical(self.encoding.dict_to_vector(subnet)).tolist() == [
            self.encoding.dict_to_vector(subnet).tolist()
        ]
        return super().measure(subnet, metrics)


def csv_networks(path):
    with open(path, newline="") as f:
        return [row["Sub-network"] for row in csv.DictReader(f)]


@pytest.mark.parametrize("tactic", ["linas", "evolutionary", "random"])
def test_a_search_measures_each_network_once_and_records_its_canonical_form(in_tmp, dynas_config, tactic):
    supernet_registry.register("synthetic_inactive", WithInactiveGenes)
    WithInactiveGenes.calls = []
    c = dynas_config("synthetic_inactive", num_evals=100, search_tactic=tactic, inner_evals=200)
    agent = NAS(c)
    agent.search()
    # the whole space is 100 networks (not 16 x 9 = 144 encodings): none measured twice; linas and random measure
    # all of it (the evolutionary baseline stops once its population has converged)
    measured = len(agent.study)
    assert len(WithInactiveGenes.calls) == len(set(WithInactiveGenes.calls)) == measured
    assert measured == 100 if tactic != "evolutionary" else 20 <= measured <= 100
    rows = csv_networks(in_tmp / "dynas_results.csv")
    assert len(rows) == len(set(rows)) == measured


def test_a_file_written_before_resumes_mapped_to_canonical_forms(in_tmp, dynas_config):
    supernet_registry.register("synthetic_inactive", WithInactiveGenes)
    supernet = WithInactiveGenes()
    # an earlier file: three encodings of one network (a = [0, 0]: b never counts), one of another
    earlier = [{"a": [0, 0], "b": [1, 1]}, {"a": [0, 0], "b": [2, 3]}, {"a": [0, 0], "b": [3, 2]}]
    earlier.append({"a": [1, 0], "b": [2, 3]})
    lines = ["Sub-network,Date,Top-1 Acc (%),MACs"]
    for s in earlier:
        m = Synthetic.measure(
            supernet,
            supernet.encoding.vector_to_dict(supernet.canonical(supernet.encoding.dict_to_vector(s))[0]),
            ["accuracy_top1", "macs"],
        )
        lines.append(f'"{s}",t,{m["accuracy_top1"]},{m["macs"]}')
    (in_tmp / "earlier.csv").write_text("\n".join(lines) + "\n")
    WithInactiveGenes.calls = []
    agent = NAS(dynas_config("synthetic_inactive", num_evals=10, results_csv_path="earlier.csv", inner_evals=200))
    agent.search()
    # The old rows stay, and each was a measurement spent: all 4 count toward 10 (they are 2 networks).
    assert len(csv_networks(in_tmp / "earlier.csv")) == 4 + 6
    assert len(agent.study) == 2 + 6 and len(WithInactiveGenes.calls) == 6
    assert {"a": [0, 0], "b": [1, 1]} in [t.arch for t in agent.study.trials]  # the canonical form of the first 3


@pytest.mark.parametrize(
    ("name", "csv_name", "rows", "networks"),
    [
        ("ofa_mbv3_d234_e346_k357_w1.2", "results_mbnv3w1p2_macs.csv", 500, 461),
        ("bert_base_sst2", "results_bertbase_sst2_macs.csv", 2000, 1457),
        ("transformer_lt_wmt_en_de", "results_transformerlt_macs.csv", 500, 498),
    ],
)
def test_the_reference_measured_one_network_under_several_encodings(name, csv_name, rows, networks):
    """In the reference's own runs, rows that are one network (by the canonical form) carry one measured value."""
    from collections import defaultdict
    from pathlib import Path

    path = Path(__file__).resolve().parent / "data" / "inc_dynas_notebook_results" / csv_name
    supernet = create_supernet(name)
    with open(path, newline="") as f:
        table = [row for row in csv.reader(f) if row][1:]  # the w1.2 file starts with a blank line
    vectors = np.stack([supernet.encoding.dict_to_vector(supernet.parse_record(r[0])) for r in table])
    groups = defaultdict(set)
    for row, vector in zip(table, supernet.canonical(vectors)):
        groups[tuple(vector)].add(row[-1])  # the accuracy column (SST-2 accuracy, BLEU)
    assert len(table) == rows and len(groups) == networks
    assert all(len(values) == 1 for values in groups.values())


# -- small spaces are searched exactly on the predictors -------------------------------------------------------------
def test_spread_best_takes_whole_fronts_then_spreads_the_last_one():
    from neural_nas.pareto import spread_best

    front = np.array([[i, 10 - i] for i in range(11)], dtype=float)  # 11 mutually non-dominated points
    dominated = front + 1
    objectives = np.concatenate([dominated[:3], front])
    picked = spread_best(objectives, 5)
    assert len(set(picked.tolist())) == 5 and set(picked.tolist()) <= set(range(3, 14))
    assert {3, 13} <= set(picked.tolist())  # both ends of the front
    assert sorted(spread_best(objectives, 13).tolist())[-11:] == list(range(3, 14))


class ExactSmallSpace(Synthetic):
    """5 genes of 9 choices (59,049 sub-networks) whose two metrics are exact: predictions are the truth."""

    name = "exact_small_space"
    encoding = Encoding({"g": {"count": 5, "vars": list(range(9))}})
    metrics = ("accuracy_top1", "macs")
    exact_metric_names = ("accuracy_top1", "macs")
    calls: list = []

    def exact_metrics(self, vectors):
        v = np.atleast_2d(vectors).astype(float)
        # A top-1 (%) within [0, 100]: the exact accuracy of a surrogate, as monotone in the genes as before.
        return {"accuracy_top1": 40 + 5 * np.sqrt(v @ np.arange(1, 6)), "macs": 1e6 + (v**2).sum(axis=1) * 1e4}

    def measure(self, subnet, metrics):
        type(self).calls.append(tuple(subnet["g"]))
        return {m: float(x[0]) for m, x in self.exact_metrics(self.encoding.dict_to_vector(subnet)).items()}


def test_linas_measures_the_predicted_front_of_a_small_space(in_tmp, dynas_config):
    supernet_registry.register("exact_small_space", ExactSmallSpace)
    ExactSmallSpace.calls = []
    NAS(dynas_config("exact_small_space", num_evals=30, population=10, initial_population=20)).search()
    assert len(ExactSmallSpace.calls) == 30
    every = np.array(list(itertools.product(range(9), repeat=5)))
    measured_first = {tuple(v) for v in ExactSmallSpace.calls[:20]}
    unmeasured = every[[tuple(v) not in measured_first for v in every.tolist()]]
    exact = ExactSmallSpace().exact_metrics(unmeasured)
    # the true front of the unmeasured networks (accuracy up, MACs down), by a sweep in order of MACs
    order = np.lexsort((-exact["accuracy_top1"], exact["macs"]))
    best = np.maximum.accumulate(exact["accuracy_top1"][order])
    on_front = order[np.r_[True, exact["accuracy_top1"][order][1:] > best[:-1]]]
    front = {(exact["accuracy_top1"][i], exact["macs"][i]) for i in on_front}  # networks of equal metrics tie
    last = ExactSmallSpace().exact_metrics(np.array(ExactSmallSpace.calls[20:]))
    assert set(zip(last["accuracy_top1"], last["macs"])) <= front  # the last population: on the true front


def test_a_canonical_form_without_its_count_cannot_hang_the_search(in_tmp, dynas_config, caplog):
    """A super-network that merges encodings but keeps the default `n_networks` (every encoding): the search measures
    every network once, says what is wrong, and ends."""

    class Undercounted(WithInactiveGenes):
        name = "synthetic_undercounted"

        def n_networks(self):
            return SuperNetwork.n_networks(self)  # 144 encodings, 100 networks

    supernet_registry.register("synthetic_undercounted", Undercounted)
    Undercounted.calls = []
    caplog.set_level("WARNING", logger="neural_nas")
    agent = NAS(dynas_config("synthetic_undercounted", num_evals=144, search_tactic="random"))
    agent.search()
    assert len(agent.study) == len(set(Undercounted.calls)) == 100
    assert any("n_networks() must count the merged networks" in r.getMessage() for r in caplog.records)
