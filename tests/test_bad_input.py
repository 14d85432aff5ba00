"""Bad input, table-driven: each case gets one clear early error naming the problem, and loses no earlier result.

Every case has a setup (files written into the test's folder, earlier results among them) and an action. After the
action fails, every file that existed before it is byte-identical: nothing already measured is lost or rewritten.
The table covers every registry (a name that is not registered) and every file a results store reads (a corrupt one).
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import neural_nas.results
from neural_nas import NAS, BasicNAS, NASConfig, nas_registry
from neural_nas.errors import ConfigError, ResultsFileError
from neural_nas.evolution import algorithm_registry
from neural_nas.evolution.tactics import tactic_registry
from neural_nas.export.formats import format_registry
from neural_nas.measurements import metric_registry
from neural_nas.nas.base import NASBase
from neural_nas.results.csv_store import CsvStore, failures_path, racing_path
from neural_nas.results.dynast_csv import ResultsCsv
from neural_nas.results.journal_store import JournalStore
from neural_nas.results.store import ResultsStore
from neural_nas.searchers import searcher_registry
from neural_nas.supernets import create_supernet, supernet_registry
from neural_nas.training import criterion_registry, dataset_registry, optimizer_registry
from tests.image_data import make_image_folder
from tests.synthetic_supernet import SPACE, Synthetic, build, config

MBV3 = "ofa_mbv3_d234_e346_k357_w1.0"
CHEAP = Synthetic.name  # the shared cheap super-network: its measurements are counted in Synthetic.calls


def evaluate(model: torch.nn.Module) -> float:
    return float(sum(p.numel() for p in model.parameters()))


# -- helpers that build inputs ----------------------------------------------------------------------------------------
def write_yaml(tmp: Path, document: Any, text: str | None = None) -> str:
    path = tmp / "nas.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(document))
    return str(path)


def basic_doc(**search: Any) -> dict:
    return {"nas": {"approach": "basic", "search": {"search_space": SPACE, "max_trials": 2, **search}}}


def dynas_doc(**dynas: Any) -> dict:
    values = {"supernet": CHEAP, "metrics": ["acc", "macs"], "population": 10, "num_evals": 12}
    return {"nas": {"approach": "dynas", "dynas": {**values, **dynas}}}


def dynas_conf(supernet: str = CHEAP, metrics: tuple = ("acc", "macs"), **dynas: Any) -> NASConfig:
    return config(supernet, metrics, inner_evals=200, **dynas)


def basic_agent(tmp: Path, **search: Any) -> BasicNAS:
    c = NASConfig(approach="basic", search_space=SPACE, search_algorithm="grid")
    c.nas.search.max_trials = 2
    for key, value in search.items():
        setattr(c.nas.search, key, value)
    agent = NAS(c, model_builder=build)
    agent.eval_func = evaluate
    return agent


def earlier_basic_results(tmp: Path) -> None:
    """A finished Basic NAS search in ``tmp`` (its results.jsonl is what must survive)."""
    basic_agent(tmp).search()


# Three sub-networks of the cheap super-network, and one outside its space (gene "a" takes 0 to 3)
EARLIER = [
    {"a": [0, 0, 0, 0, 0, 1], "b": [1] * 6},
    {"a": [2, 1, 0, 0, 0, 0], "b": [3] * 6},
    {"a": [1] * 6, "b": [2] * 6},
]
FOREIGN = {"a": [7] * 6, "b": [1] * 6}


def earlier_cheap_csv(tmp: Path, name: str = "dynas_results.csv") -> Path:
    csv = ResultsCsv(tmp / name)
    for subnet in EARLIER:
        csv.append(subnet, {"accuracy_top1": float(sum(subnet["a"])), "macs": 5.0})
    return csv.path


def csv_row(subnet: Any, macs: str = "5", acc: str = "1.0") -> str:
    """A results-CSV line (params and latency unmeasured); ``subnet`` a dict, or the text of a broken literal."""
    text = repr(subnet) if isinstance(subnet, dict) else subnet
    return f'"{text}",d,0,0,{macs},{acc}'


def earlier_mbv3_csv(tmp: Path, name: str = "dynas_results.csv") -> Path:
    """Three rows of MobileNetV3 w1.0 results with the exact MACs/params a real search would have written."""
    net = create_supernet(MBV3)
    vectors = net.encoding.random_vectors(3, 0)
    exact = net.exact_metrics(vectors)
    csv = ResultsCsv(tmp / name)
    for i, vector in enumerate(vectors):
        subnet = net.encoding.vector_to_dict(vector)
        csv.append(net.subnet_record(subnet), {"accuracy_top1": 70.0 + i, **{k: float(v[i]) for k, v in exact.items()}})
    return csv.path


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


# -- the cases --------------------------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    setup: Callable[[Path], Callable[[], Any]]  # writes inputs into the folder, returns the failing action
    match: str  # a regex the message must contain
    error: type[Exception] = ConfigError
    registry: Any = None  # a registry asked for a name it does not hold: the error must list its names
    file: str | None = None  # the results file a ResultsFileError must name (its file name)


def yaml_case(name: str, document: Any, match: str, text: str | None = None, registry: Any = None) -> Case:
    return Case(name, lambda tmp: lambda: NAS(write_yaml(tmp, document, text)), match, registry=registry)


def conf_case(name: str, path: str, value: Any, match: str, approach: str = "dynas") -> Case:
    def setup(tmp: Path) -> Callable[[], Any]:
        def action() -> None:
            c = NASConfig(approach=approach)
            c.set(path, value)

        return action

    return Case(name, setup, match)


def csv_case(name: str, edit: Callable[[Path], None], match: str, conf: Callable[[], NASConfig] = dynas_conf) -> Case:
    def setup(tmp: Path) -> Callable[[], Any]:
        edit(earlier_cheap_csv(tmp))
        return lambda: NAS(conf()).search()

    return Case(name, setup, match, ResultsFileError, file="dynas_results.csv")


def jsonl_case(name: str, line: str, match: str) -> Case:
    def setup(tmp: Path) -> Callable[[], Any]:
        earlier_basic_results(tmp)
        path = tmp / "NASResults" / "results.jsonl"
        path.write_text(path.read_text() + line + "\n")
        return lambda: basic_agent(tmp, max_trials=4).search()

    return Case(name, setup, match, ResultsFileError, file="results.jsonl")


def images_without(split: str) -> Callable[[Path], Callable[[], Any]]:
    """An image folder whose ``split`` folder(s) hold no images (``*``: train/ and val/ keep their class folders)."""

    def setup(tmp: Path) -> Callable[[], Any]:
        root = make_image_folder(tmp / "images", n_classes=2, n_train=1, n_val=1, size=32)
        for folder in root.glob(split):
            for f in folder.rglob("*.jpg"):
                f.unlink()
            if split != "*":
                shutil.rmtree(folder)
        earlier_mbv3_csv(tmp)
        conf = dynas_conf(MBV3, ("acc", "macs"), dataset_path=str(root), pretrained=False, num_workers=0)
        return lambda: NAS(conf).search()

    return setup


def checkpoint_case(name: str, write: Callable[[Path], None], match: str) -> Case:
    def setup(tmp: Path) -> Callable[[], Any]:
        ckpt = tmp / "weights.pth"
        write(ckpt)
        earlier_mbv3_csv(tmp)
        conf = dynas_conf(MBV3, ("params", "latency"), supernet_ckpt_path=str(ckpt), pretrained=True, batch_size=1)
        return lambda: NAS(conf).search()

    return Case(name, setup, match)


def _builder_returning(value: Any) -> Callable[[Path], Callable[[], Any]]:
    def setup(tmp: Path) -> Callable[[], Any]:
        earlier_basic_results(tmp)
        agent = basic_agent(tmp, max_trials=4)
        agent.model_builder = lambda arch: value
        return agent.search

    return setup


def _set_attr(attr: str, value: Any) -> Callable[[Path], Callable[[], Any]]:
    def setup(tmp: Path) -> Callable[[], Any]:
        agent = basic_agent(tmp)
        return lambda: setattr(agent, attr, value)

    return setup


def _constructor(**kwargs: Any) -> Callable[[Path], Callable[[], Any]]:
    def setup(tmp: Path) -> Callable[[], Any]:
        return lambda: BasicNAS(NASConfig(approach="basic"), **kwargs)

    return setup


def _csv_path_is_a_folder(tmp: Path) -> Callable[[], Any]:
    earlier_cheap_csv(tmp)
    (tmp / "results").mkdir()
    return lambda: NAS(dynas_conf(results_csv_path=str(tmp / "results"))).search()


def _res_save_path_file(tmp: Path) -> Callable[[], Any]:
    (tmp / "out").write_text("a file")
    return lambda: basic_agent(tmp).search(str(tmp / "out"))


def _dataset_is_a_file(tmp: Path) -> Callable[[], Any]:
    (tmp / "images").write_text("a file")
    earlier_mbv3_csv(tmp)
    conf = dynas_conf(MBV3, ("acc", "macs"), dataset_path=str(tmp / "images"), pretrained=False, num_workers=0)
    return lambda: NAS(conf).search()


def _constructor_search(**kwargs: Any) -> Callable[[Path], Callable[[], Any]]:
    def setup(tmp: Path) -> Callable[[], Any]:
        agent = BasicNAS(NASConfig(approach="basic"), model_builder=build, **kwargs)
        agent.eval_func = evaluate
        return agent.search

    return setup


def _corrupt_failures(tmp: Path) -> Callable[[], Any]:
    failed = json.dumps({"arch": {"a": [0] * 6, "b": [1] * 6}, "error": "x"})
    failures_path(earlier_cheap_csv(tmp)).write_text(failed + "\n{oops\n")
    return lambda: NAS(dynas_conf()).search()


def _corrupt_racing(tmp: Path) -> Callable[[], Any]:
    stopped = json.dumps({"arch": {"a": [0] * 6, "b": [1] * 6}, "metrics": {"accuracy_top1": 50.0, "macs": 1e6}})
    racing_path(earlier_cheap_csv(tmp)).write_text(stopped + "\n{oops\n")
    return lambda: NAS(dynas_conf()).search()


def _unknown_export_format(tmp: Path) -> Callable[[], Any]:
    from neural_nas.export import save_subnet

    return lambda: save_subnet(None, create_supernet("ofa_mbv3_digits"), {}, tmp / "out", formats="tflite")


def _lm_doc(tmp: Path, **dynas: Any) -> dict:
    """A Dynamic NAS document of ``hf_causal_lm`` on a model folder with only its config (enough for the genes)."""
    folder = tmp / "model"
    folder.mkdir(exist_ok=True)
    config = {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4}
    config |= {"num_key_value_heads": 2, "intermediate_size": 64, "vocab_size": 50, "max_position_embeddings": 64}
    (folder / "config.json").write_text(json.dumps(config))
    values = {"supernet": "hf_causal_lm", "metrics": ["perplexity", "params"], "supernet_ckpt_path": str(folder)}
    return {"nas": {"approach": "dynas", "dynas": {**values, "population": 10, "num_evals": 12, **dynas}}}


def _lm_case(**dynas: Any) -> Callable[[Path], Callable[[], Any]]:
    return lambda tmp: lambda: NAS(write_yaml(tmp, _lm_doc(tmp, **dynas))).search()


def _lm_without_weights(tmp: Path) -> Callable[[], Any]:
    (tmp / "text").mkdir()
    for name in ("train.txt", "valid.txt"):
        (tmp / "text" / name).write_text("a b c d\n" * 20)
    doc = _lm_doc(tmp, dataset_path=str(tmp / "text"), pretrained=True)
    return lambda: NAS(write_yaml(tmp, doc)).search()


def _lm_unknown_family(tmp: Path) -> Callable[[], Any]:
    doc = _lm_doc(tmp)
    (tmp / "model" / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    return lambda: NAS(write_yaml(tmp, doc))


def _other_supernet_csv(tmp: Path) -> Callable[[], Any]:
    """Rows that parse as MobileNetV3 w1.0 sub-networks but whose MACs are those of another network."""
    path = earlier_mbv3_csv(tmp)
    lines = path.read_text().splitlines()
    fields = lines[1].rsplit(",", 4)
    fields[3] = "123456"  # MACs column
    lines[1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return lambda: NAS(dynas_conf("ofa_mbv3_d234_e346_k357_w1.0", ("params", "macs"))).search()


TRAIN = {
    "epoch": 1,
    "optimizer": {"SGD": {"learning_rate": 0.1}},
    "criterion": {"CrossEntropyLoss": {}},
    "dataloader": {"batch_size": 8, "dataset": {"digits": {"split": "train"}}},
}


def _train_section(section: dict) -> Callable[[Path], Callable[[], Any]]:
    def setup(tmp: Path) -> Callable[[], Any]:
        earlier_basic_results(tmp)
        document = basic_doc(search_algorithm="grid", max_trials=4)
        document["train"] = section
        agent = NAS(write_yaml(tmp, document), SPACE, build)
        agent.eval_func = evaluate
        return agent.search

    return setup


def _no_eval(tmp: Path) -> Callable[[], Any]:
    earlier_basic_results(tmp)
    return lambda: NAS(write_yaml(tmp, basic_doc(max_trials=4)), SPACE, build).search()


def _device(tmp: Path) -> Callable[[], Any]:
    document = basic_doc()
    document["device"] = "tpu"
    document["evaluation"] = {"accuracy": {"metric": {"topk": 1}, "dataloader": {"dataset": {"digits": {}}}}}
    return lambda: NAS(write_yaml(tmp, document), SPACE, build).search()


def _metric_mismatch(tmp: Path) -> Callable[[], Any]:
    earlier_basic_results(tmp)  # results of metric "metric"
    return basic_agent(tmp, max_trials=4, metrics=["acc"]).search


def _hib_mismatch(tmp: Path) -> Callable[[], Any]:
    return basic_agent(tmp, metrics=["a", "b"], higher_is_better=[True]).search


def _search_space_missing(tmp: Path) -> Callable[[], Any]:
    agent = NAS(NASConfig(approach="basic"), model_builder=build)
    agent.eval_func = evaluate
    return agent.search


def _load(name: str, content: bytes | None) -> Callable[[Path], Callable[[], Any]]:
    def setup(tmp: Path) -> Callable[[], Any]:
        if content is not None:
            (tmp / name).write_bytes(content)
        return lambda: NASBase().load_search_results(tmp / name)

    return setup


CASES: list[Case] = [
    # YAML documents
    yaml_case("yaml syntax error", None, "valid YAML", text="nas: {approach: basic\n  search: [\n"),
    yaml_case("yaml tab indentation", None, "valid YAML", text="nas:\n\tapproach: basic\n"),
    yaml_case("empty yaml", None, "a mapping with a `nas:` section", text=""),
    yaml_case("yaml is a list", [1, 2], "a mapping with a `nas:` section"),
    yaml_case("no nas section", {"model": {"name": "x"}}, "nas must be a mapping"),
    yaml_case("nas is a string", {"nas": "basic"}, "nas must be a mapping"),
    yaml_case("unknown top-level key", {"nas": {"approach": "basic"}, "nass": {}}, "nass.*known key"),
    yaml_case("unknown key with suggestion", basic_doc(max_trial=3), "did you mean 'nas.search.max_trials'"),
    yaml_case("unknown dynas key", dynas_doc(populaton=20), "did you mean 'nas.dynas.population'"),
    yaml_case("search is a list", {"nas": {"search": [1]}}, "nas.search must be a mapping"),
    yaml_case("max_trials a string", basic_doc(max_trials="ten"), "nas.search.max_trials"),
    yaml_case("max_trials zero", basic_doc(max_trials=0), r"nas.search.max_trials must be an int in the range \[1"),
    yaml_case("seed negative", basic_doc(seed=-1), "nas.search.seed"),
    yaml_case("seed a float", basic_doc(seed=1.5), "nas.search.seed"),
    yaml_case("population below 10", dynas_doc(population=5), r"nas.dynas.population must be an int in the range \[10"),
    yaml_case("population a string", dynas_doc(population="50"), "nas.dynas.population"),
    yaml_case("num_evals zero", dynas_doc(num_evals=0), "nas.dynas.num_evals"),
    yaml_case(
        "test_fraction zero",
        dynas_doc(test_fraction=0),
        r"nas.dynas.test_fraction must be a number in the range \(0, 1\]",
    ),
    yaml_case("test_fraction above one", dynas_doc(test_fraction=1.5), "nas.dynas.test_fraction"),
    yaml_case("test_fraction negative", dynas_doc(test_fraction=-0.5), "nas.dynas.test_fraction"),
    yaml_case("test_fraction a string", dynas_doc(test_fraction="half"), "nas.dynas.test_fraction"),
    yaml_case("batch_size zero", dynas_doc(batch_size=0), "nas.dynas.batch_size"),
    yaml_case("num_workers negative", dynas_doc(num_workers=-1), "nas.dynas.num_workers"),
    yaml_case("distributed a string", dynas_doc(distributed="yes"), "nas.dynas.distributed must be true or false"),
    yaml_case("zero objectives", dynas_doc(metrics=[]), r"nas.dynas.metrics must be a list of 1 to 3"),
    yaml_case("four objectives", dynas_doc(metrics=["acc", "macs", "lat", "params"]), "nas.dynas.metrics"),
    yaml_case("metrics not a list", dynas_doc(metrics="acc"), "nas.dynas.metrics"),
    yaml_case("metric not a string", dynas_doc(metrics=["acc", 3]), r"nas.dynas.metrics\[1\]"),
    yaml_case("unknown metric", dynas_doc(metrics=["acc", "flops"]), "flops", registry=metric_registry),
    yaml_case("duplicate metric via alias", dynas_doc(metrics=["acc", "accuracy_top1"]), "distinct metrics"),
    yaml_case("metric the super-network cannot measure", dynas_doc(metrics=["acc", "params"]), "cannot measure params"),
    yaml_case(
        "unknown super-network", dynas_doc(supernet="ofa_mbv3_w9"), "nas.dynas.supernet", registry=supernet_registry
    ),
    yaml_case(
        "missing super-network", {"nas": {"approach": "dynas", "dynas": {"metrics": ["acc"]}}}, "nas.dynas.supernet"
    ),
    yaml_case("missing metrics", {"nas": {"approach": "dynas", "dynas": {"supernet": MBV3}}}, "nas.dynas.metrics"),
    Case(  # a warning when built (earlier results may do), an error before the first measurement
        "accuracy without dataset_path",
        lambda tmp: lambda: NAS(write_yaml(tmp, dynas_doc(supernet=MBV3))).search(),
        "nas.dynas.dataset_path",
    ),
    yaml_case(
        "unknown algorithm (one of another objective count runs that count's default: issue 25)",
        dynas_doc(metrics=["acc"])
        | {"nas": {**dynas_doc(metrics=["acc"])["nas"], "search": {"search_algorithm": "nsga9"}}},
        "nas.search.search_algorithm",
    ),
    yaml_case("unknown approach", {"nas": {"approach": "dynamo"}}, "nas.approach", registry=nas_registry),
    yaml_case(
        "unknown search tactic", dynas_doc(search_tactic="linear"), "nas.dynas.search_tactic", registry=tactic_registry
    ),
    yaml_case(
        "unknown evolutionary algorithm",
        dynas_doc() | {"nas": {**dynas_doc()["nas"], "search": {"search_algorithm": "nsga3"}}},
        "nas.search.search_algorithm",
        registry=algorithm_registry,
    ),
    yaml_case("on_error unknown", basic_doc(on_error="ignore"), "nas.search.on_error must be one of 'raise', 'skip'"),
    yaml_case(
        "max_consecutive_failures zero", basic_doc(max_consecutive_failures=0), "nas.search.max_consecutive_failures"
    ),
    yaml_case("higher_is_better not bools", basic_doc(higher_is_better=["yes"]), r"nas.search.higher_is_better\[0\]"),
    # search spaces
    yaml_case("empty search space", basic_doc(search_space={}), "nas.search.search_space must be a non-empty mapping"),
    yaml_case("search space a list", basic_doc(search_space=[1, 2]), "nas.search.search_space"),
    yaml_case("search space value not a list", basic_doc(search_space={"w": 3}), "nas.search.search_space.w"),
    yaml_case("search space empty choices", basic_doc(search_space={"w": []}), "nas.search.search_space.w"),
    yaml_case("search space duplicate choices", basic_doc(search_space={"w": [1, 1]}), "distinct choices"),
    Case("constructor search space not a list", _constructor(search_space={"w": 5}), "search_space.w"),
    Case("constructor search space not a dict", _constructor(search_space=[("w", [1])]), "search_space"),
    Case("search space missing", _search_space_missing, "nas.search.search_space"),
    # user code and Python-side settings
    Case("model_builder not callable", _constructor(model_builder=3), "model_builder must be a callable"),
    Case("model_builder returns a string", _builder_returning("not a model"), "model_builder.*torch.nn.Module"),
    Case("model_builder returns None", _builder_returning(None), "model_builder.*NoneType"),
    Case("eval_func not callable", _set_attr("eval_func", 5), "eval_func"),
    Case("search_algorithm object without suggest", _set_attr("search_algorithm", object()), "search_algorithm"),
    Case(
        "search_algorithm unknown name",
        _set_attr("search_algorithm", "bayes"),
        "nas.search.search_algorithm",
        registry=searcher_registry,
    ),
    Case("no eval function and no evaluation section", _no_eval, "eval_func"),
    Case(
        "train section with an unknown optimizer",
        _train_section(TRAIN | {"optimizer": {"Adagrad2": {}}}),
        "train.optimizer",
        registry=optimizer_registry,
    ),
    Case(
        "train section with an unknown criterion",
        _train_section(TRAIN | {"criterion": {"HingeLoss": {}}}),
        "train.criterion",
        registry=criterion_registry,
    ),
    Case(
        "train section with an unknown dataset",
        _train_section(TRAIN | {"dataloader": {"batch_size": 8, "dataset": {"mnist": {}}}}),
        "train.dataloader.dataset",
        registry=dataset_registry,
    ),
    Case("device unknown", _device, "device"),
    Case("higher_is_better length mismatch", _hib_mismatch, "nas.search.higher_is_better"),
    conf_case("python assignment of a wrong type", "nas.dynas.population", 3.5, "nas.dynas.population"),
    conf_case("python assignment of an unknown key", "nas.dynas.supernett", "x", "nas.dynas.supernett"),
    # earlier Basic NAS results (resume)
    jsonl_case("results.jsonl corrupt line", "{not json", r"results.jsonl:3"),
    jsonl_case("results.jsonl record without metrics", '{"arch": {"width": 2, "depth": 1}}', "record 3"),
    jsonl_case("results.jsonl record not an object", "[1, 2]", r"results.jsonl:3"),
    jsonl_case("results.jsonl NaN metric", '{"arch": {"depth": 2, "width": 2}, "metrics": {"metric": NaN}}', "finite"),
    Case("resume with other metrics", _metric_mismatch, "nas.search.metrics", ResultsFileError, file="results.jsonl"),
    Case("pickled results are refused", _load("r.npy", b"\x93NUMPY"), "pickled", ResultsFileError, file="r.npy"),
    Case("results JSON unparsable", _load("r.json", b"{"), "dump_search_results", ResultsFileError, file="r.json"),
    Case(
        "results JSON without a results list",
        _load("r.json", b'{"results": 3}'),
        "'results' list",
        ResultsFileError,
        file="r.json",
    ),
    Case("results file missing", _load("missing.json", None), "missing.json", FileNotFoundError),
    Case("yaml file missing", lambda tmp: lambda: NAS(str(tmp / "nope.yaml")), "nope.yaml", FileNotFoundError),
    # earlier Dynamic NAS results (resume)
    csv_case(
        "csv row with a missing column",
        lambda p: replace_line(p, 3, f'"{EARLIER[1]!r}",2024,0'),
        r"dynas_results.csv:3",
    ),
    csv_case(
        "csv non-number metric",
        lambda p: replace_line(p, 2, csv_row(EARLIER[0], macs="five")),
        "a finite number in column",
    ),
    csv_case("csv wrong header", lambda p: replace_line(p, 1, "Sub-network,Date,Acc"), r"dynas_results.csv:1"),
    csv_case(
        "csv unparsable sub-network",
        lambda p: replace_line(p, 2, csv_row("{'a': [0, 0")),
        r"dynas_results.csv:2",
    ),
    csv_case(
        "csv sub-network of another space",
        lambda p: replace_line(p, 2, csv_row(FOREIGN)),
        CHEAP,
    ),
    Case(
        "csv of another super-network",
        _other_supernet_csv,
        "another super-network",
        ResultsFileError,
        file="dynas_results.csv",
    ),
    Case(
        "failures file corrupt",
        _corrupt_failures,
        r"failures.jsonl:2",
        ResultsFileError,
        file="dynas_results.csv.failures.jsonl",
    ),
    Case(
        "racing file corrupt",
        _corrupt_racing,
        r"racing.jsonl:2",
        ResultsFileError,
        file="dynas_results.csv.racing.jsonl",
    ),
    Case("unknown export format", _unknown_export_format, "--format", registry=format_registry),
    # search constraints and the language-model super-network
    yaml_case("constraint on a measured metric", dynas_doc(constraints=["acc>=70"]), "nas.dynas.constraints"),
    yaml_case("constraint not a list", dynas_doc(constraints="macs<=3M"), "nas.dynas.constraints"),
    Case("language model without its folder", _lm_case(supernet_ckpt_path=None), "supernet_ckpt_path"),
    Case("language model of an unknown family", _lm_unknown_family, "model_type one of"),
    Case("language model text missing", _lm_case(dataset_path="nowhere", pretrained=False), "train.txt and valid.txt"),
    Case("language model without safetensors weights", _lm_without_weights, "safetensors"),
    Case(
        "dataset_path missing",
        lambda tmp: (
            earlier_mbv3_csv(tmp),
            lambda: NAS(dynas_conf(MBV3, ("acc", "macs"), dataset_path=str(tmp / "none"), pretrained=False)).search(),
        )[1],
        "nas.dynas.dataset_path",
    ),
    csv_case(
        "csv NaN metric",
        lambda p: replace_line(p, 2, csv_row(EARLIER[0], acc="nan")),
        r"dynas_results.csv:2.*finite number in column 'Top-1 Acc \(%\)'",
    ),
    Case("results_csv_path is a folder", _csv_path_is_a_folder, "nas.dynas.results_csv_path.*not a folder"),
    Case("res_save_path is a file", _res_save_path_file, "res_save_path must be a folder"),
    Case("search space choice not storable in JSON", _constructor_search(search_space={"w": [object()]}), "JSON"),
    Case("search space key not a string", _constructor(search_space={1: [1]}), "non-empty strings"),
    yaml_case("yaml key not a string", {"nas": {"search": {1: 2}}}, "nas.search.1 must be a mapping with string keys"),
    Case("config of an unsupported type", lambda tmp: lambda: NAS({"nas": {}}), "YAML file.*NASConfig", TypeError),
    checkpoint_case("checkpoint path is a folder", lambda p: p.mkdir(), "existing super-network checkpoint file"),
    Case("dataset_path is a file", _dataset_is_a_file, "nas.dynas.dataset_path.*is not a folder"),
    Case("dataset_path without images", images_without("*"), "no images found"),
    Case("dataset_path without train/", images_without("train"), "train"),
    Case("dataset_path without val/", images_without("val"), "val"),
    checkpoint_case(
        "checkpoint corrupt", lambda p: p.write_bytes(b"PK\x03\x04 definitely not a zip"), "supernet_ckpt_path"
    ),
    checkpoint_case(
        "checkpoint of another architecture",
        lambda p: torch.save({"conv.weight": torch.zeros(2, 3)}, p),
        "nas.dynas.supernet_ckpt_path.*tensors",
    ),
    checkpoint_case("checkpoint not a state dict", lambda p: torch.save([torch.zeros(1)], p), "a state dict"),
    checkpoint_case("checkpoint path missing", lambda p: None, "supernet_ckpt_path.*existing super-network checkpoint"),
]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


STORE_METHODS = ("replay", "append_trial", "append_failure")  # the `ResultsStore` protocol


def results_stores() -> set[type]:
    """Every results store of the library: the classes in `neural_nas.results` that implement `ResultsStore`."""
    found = set()
    for info in pkgutil.iter_modules(neural_nas.results.__path__, "neural_nas.results."):
        for _, cls in inspect.getmembers(importlib.import_module(info.name), inspect.isclass):
            implements = all(callable(getattr(cls, m, None)) for m in STORE_METHODS)
            if implements and cls.__module__ == info.name and cls is not ResultsStore:
                found.add(cls)
    return found


def test_the_cases_cover_every_registry_and_every_results_file(tmp_path, scoped_registries):
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique (they are the test ids)"
    # every registry is asked, somewhere, for a name it does not hold
    asked = {id(c.registry) for c in CASES if c.registry is not None}
    missing = [r.kind for r in scoped_registries if id(r) not in asked]
    assert not missing, f"no case names an unregistered {missing}"
    # every file a results store reads has a corrupt (or foreign) version among the cases
    assert results_stores() == {JournalStore, CsvStore}, "a new results store: add cases for its corrupt files"
    journal = JournalStore(tmp_path / "NASResults" / "results.jsonl", None)
    csv = CsvStore(tmp_path / "dynas_results.csv", Synthetic(), ["accuracy_top1", "macs"])
    read = {store.path.name for store in (journal, csv)} | {store.failures_path.name for store in (journal, csv)}
    read.add(racing_path(csv.path).name)  # the sub-networks racing stopped
    covered = {c.file for c in CASES if c.error is ResultsFileError}
    assert read <= covered, f"no corrupt-file case for {sorted(read - covered)}"
    # and the other formats load_search_results reads: its JSON dump, and a pickle it refuses
    assert {"r.json", "r.npy"} <= covered


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clear_error_and_loses_nothing(in_tmp, case, synthetic):
    action = case.setup(in_tmp)
    before = snapshot(in_tmp)
    with pytest.raises(case.error, match=case.match) as info:
        action()
    error = info.value
    if isinstance(error, ConfigError):  # names what is wrong (the key) and what is allowed
        assert error.key and error.allowed and error.key in str(error) and error.allowed in str(error)
    if isinstance(error, ResultsFileError):  # names the file and what was expected in it
        assert error.where and error.expected and error.where in str(error) and error.expected in str(error)
        assert case.file is not None and case.file in error.where
    if case.registry is not None:  # a name that is not registered: the error lists every registered one
        assert error.key.endswith(case.registry.key)
        assert all(name in str(error).lower() for name in case.registry.names())
    after = snapshot(in_tmp)
    archived = {(Path(n).name, d) for n, d in after.items() if "previous_results" in Path(n).parts}
    changed = [n for n, d in before.items() if after.get(n) != d and (Path(n).name, d) not in archived]
    assert not changed, f"earlier files changed or removed (not even archived): {changed}"
    assert synthetic.calls == []  # caught before any measurement


def test_earlier_results_are_not_loaded_with_pickle(in_tmp):
    """A `.npy` of the reference's kind is refused before it is opened, whatever it holds."""
    np.save(in_tmp / "r.npy", np.array([{"arch": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ResultsFileError, match="unpickling can execute code"):
        NASBase().load_search_results(in_tmp / "r.npy")
