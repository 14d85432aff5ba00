"""Every code block of README.md and docs/ is executed by the test suite, here or by the test named for it (issue 16).

A block is known by its file and first line. `HERE` runs a block in this file (at reduced size where the real one
would run long: the reduction is spelled out beside it); `ELSEWHERE` names the test that runs it. A block in no table,
or a table entry whose block is gone, fails `test_every_block_is_executed_somewhere`: a doc snippet cannot rot unseen.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
import torch
import yaml

from neural_nas import NAS, NASConfig
from neural_nas.cli import DEFAULT_SEARCH, main
from tests.test_builtin_train_eval import cnn  # the digits CNN of the YAML train/eval tests

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository root
    lang: str
    code: str

    @property
    def key(self) -> tuple[str, str]:
        return self.file, self.code.splitlines()[0].strip()


def doc_blocks() -> list[Block]:
    found = []
    for path in DOCS:
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M):
            found.append(Block(str(path.relative_to(ROOT)), m.group(1), m.group(2)))
    return found


def block(file: str, first_line: str) -> Block:
    return next(b for b in doc_blocks() if b.key == (file, first_line))


# -- how blocks run --------------------------------------------------------------------------------------------------
def run_python(code: str, replace: dict[str, str] | None = None, **names) -> dict:
    """Execute ``code`` (after the visible ``replace`` reductions, each of which must apply) with ``names`` defined."""
    for old, new in (replace or {}).items():
        assert old in code, f"the reduction {old!r} no longer applies: update this test with the doc"
        code = code.replace(old, new)
    scope = {"__name__": "__doc_snippet__", **names}
    exec(compile(code, "<doc snippet>", "exec"), scope)
    return scope


# A search in a doc runs 200 or more measurements; here: 12, with 200 predicted evaluations per loop.
REDUCED_SEARCH = ["--set", "dynas.num_evals=12", "--set", "dynas.inner_evals=200", "--no-plots"]


def run_commands(code: str) -> list[str]:
    """Run the ``neural-nas`` / ``python -m neural_nas`` commands of a shell block (searches reduced); returns the
    other commands, for the caller to account for."""
    others = []
    for line in code.splitlines():
        line = line.split("#", 1)[0].strip()
        for command in filter(None, (c.strip() for c in line.split("&&"))):
            words = shlex.split(command)
            if words[:1] == ["neural-nas"] or words[:3] == ["python", "-m", "neural_nas"]:
                args = words[1:] if words[0] == "neural-nas" else words[3:]
                if args[0] == "search":
                    args += REDUCED_SEARCH
                assert main(args) == 0, command
            else:
                others.append(command)
    return others


def check_installs(commands: list[str]) -> None:
    """Install commands are not run by the suite (CI installs the dev extra): each names extras that exist."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for command in commands:
        assert re.fullmatch(r'python -m pip install -e (\.|"\.\[[\w,]+\]")', command), command
        named = re.findall(r"\[([\w,]+)\]", command)
        assert all(e in extras for group in named for e in group.split(",")), command


def tiny_model(arch):
    return torch.nn.Sequential(*[torch.nn.Linear(arch["channels"], arch["channels"]) for _ in range(arch["depth"])])


def tiny_metrics(model):
    n = sum(p.numel() for p in model.parameters())
    return {"accuracy": 1 - 1 / n, "params": n}


def basic_agent(algorithm=None, max_trials=3):
    config = NASConfig(
        approach="basic", search_space={"channels": [2, 4, 8], "depth": [1, 2]}, search_algorithm=algorithm
    )
    config.nas.search.max_trials = max_trials
    agent = NAS(config, model_builder=tiny_model)
    agent.eval_func = tiny_metrics
    return agent


# -- README.md -------------------------------------------------------------------------------------------------------
def readme_main_job(b: Block) -> None:
    check_installs(run_commands(b.code))
    assert len((Path("neural_nas_results") / "dynas_results.csv").read_text().splitlines()) == 1 + 12


def readme_tests(b: Block) -> None:
    # `.ci/run` runs exactly this command on a clean clone: the suite you are reading is its second half.
    assert b.code.strip() in (ROOT / ".ci" / "run").read_text()


def readme_use(b: Block) -> None:
    scope = run_python(b.code)  # as written: the snippet defines its model builder, train and evaluate
    assert scope["pareto_front"] and len(scope["agent"].study) == 9  # 10 trials asked; the space has 9


# -- docs/basic_nas.md ---------------------------------------------------------------------------------------------
def basic_searcher_object(b: Block) -> None:
    scope = run_python(b.code, agent=basic_agent())
    assert type(scope["agent"].search_algorithm).__name__ == "MySearcher"


def basic_registered_searcher(b: Block) -> None:
    run_python(b.code)
    agent = basic_agent("my_searcher", max_trials=4)
    agent.search()
    assert len(agent.study) == 4


def basic_yaml(b: Block) -> None:
    Path("nas.yaml").write_text(b.code.replace("max_trials: 4", "max_trials: 1"))  # reduced: 1 trial of 4
    agent = NAS("nas.yaml", model_builder=cnn)
    agent.search()
    assert 0.3 < next(iter(agent.search_results.values()))["metric"] <= 1.0  # trained on digits for 2 epochs


# -- docs/dynamic_nas.md -------------------------------------------------------------------------------------------
def dynas_use(b: Block) -> None:
    # reduced: the embedded super-network and its bundled data instead of ImageNet; 12 measurements, not 250
    scope = run_python(
        b.code,
        {
            '"ofa_mbv3_d234_e346_k357_w1.2"': '"ofa_mbv3_digits"',
            "config.dynas.population = 50": "config.dynas.population = 10\nconfig.dynas.inner_evals = 200",
            "config.dynas.num_evals = 250": "config.dynas.num_evals = 12",
            'config.dynas.dataset_path = "/datasets/imagenet-ilsvrc2012"': "",
        },
    )
    assert len(scope["last_population"]) == 10 and scope["front"]
    assert len(Path("search_results.csv").read_text().splitlines()) == 1 + 12


def dynas_own_space(b: Block) -> None:
    run_python(b.code)
    config = NASConfig(approach="dynas")
    config.dynas.supernet, config.dynas.metrics = "my_space", ["acc", "lat"]
    config.dynas.population, config.dynas.num_evals, config.dynas.inner_evals = 10, 12, 200
    agent = NAS(config)
    agent.search()
    assert len(agent.study) == 12


# -- docs/extending.md ---------------------------------------------------------------------------------------------
def extending_approach(b: Block, capsys: pytest.CaptureFixture) -> None:
    run_python(b.code)
    assert capsys.readouterr().out.strip() == "[{'width': 8}]"  # the fewest parameters: params is minimised


def extending_searcher(b: Block) -> None:
    run_python(b.code)
    agent = basic_agent("widest_first", max_trials=2)
    agent.search()
    assert [t.arch for t in agent.study.trials] == [{"channels": 8, "depth": 2}, {"channels": 8, "depth": 1}]


# -- docs/getting_started.md ---------------------------------------------------------------------------------------
def getting_started_install(b: Block) -> None:
    check_installs([line.split("#", 1)[0].strip() for line in b.code.splitlines() if line.strip()])


def getting_started_commands(b: Block) -> None:
    Path("my_config.yaml").write_text(yaml.safe_dump(DEFAULT_SEARCH))  # the reader's own config: the default one
    assert run_commands(b.code) == []


# -- docs/results.md -----------------------------------------------------------------------------------------------
def results_pandas(b: Block) -> None:
    shutil.copy(ROOT / "tests" / "data" / "dynast_ofa_mbv3_w1.0" / "mbnv3w10_evoga_acc.csv", "dynas_results.csv")
    df = run_python(b.code)["df"]
    assert len(df) > 100 and all(isinstance(s, dict) and "ks" in s for s in df["subnet"])


# -- docs/after_search.md ------------------------------------------------------------------------------------------
def reduced_main_job() -> None:
    """What the page starts from: the main job's folder (reduced: 12 measurements)."""
    assert main(["search", *REDUCED_SEARCH, "-q"]) == 0


def after_search_commands(b: Block) -> None:
    reduced_main_job()
    assert run_commands(b.code) == []
    assert json.loads(Path("my_subnet/subnet.json").read_text())["metrics"]["macs"] <= 0.5e6


def after_search_python(b: Block) -> None:
    reduced_main_job()
    scope = run_python(b.code)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(scope["same"](x), scope["module"](x))


# -- docs/language_models.md ---------------------------------------------------------------------------------------
def language_model_search() -> None:
    """The page's YAML at reduced size: a tiny generated Qwen2 folder and text at its paths, 12 measurements."""
    from tests.lm_data import make_model_dir, write_text_folder

    make_model_dir(Path("models/Qwen2.5-0.5B"), "qwen2")
    write_text_folder(Path("data/wikitext-2"), train=100, valid=30)


def language_models_yaml(b: Block) -> None:
    language_model_search()
    reduced = b.code
    for old, new in {
        "calibration_size: 256": "calibration_size: 4",
        "sequence_length: 512": "sequence_length: 24",
        "num_evals: 300": "num_evals: 12\n    population: 10\n    inner_evals: 200",
    }.items():
        assert old in reduced, f"the reduction {old!r} no longer applies: update this test with the doc"
        reduced = reduced.replace(old, new)
    Path("nas.yaml").write_text(reduced)
    agent = NAS("nas.yaml")
    agent.search()
    assert len(agent.study) == 12 and all(t.metrics["params"] <= 3.5e8 for t in agent.study.trials)


def language_models_export(b: Block) -> None:
    language_models_yaml(block("docs/language_models.md", "nas:"))
    command = "export dynas_results.csv --config nas.yaml --pick min:perplexity --format hf --out my_model"
    assert main(shlex.split(command)) == 0
    scope = run_python(b.code)
    assert scope["model"].config.vocab_size == 64 and scope["tokenizer"]("the cat .")["input_ids"]


HERE: dict[tuple[str, str], Callable] = {
    ("README.md", 'python -m pip install -e ".[plot]" && python -m neural_nas search'): readme_main_job,
    ("README.md", 'python -m pip install -e ".[dev]" && python -m pytest'): readme_tests,
    ("README.md", "import torch"): readme_use,
    ("docs/basic_nas.md", "class MySearcher:"): basic_searcher_object,
    ("docs/basic_nas.md", "from neural_nas.searchers import Searcher, searcher_registry"): basic_registered_searcher,
    ("docs/basic_nas.md", "nas:"): basic_yaml,
    ("docs/dynamic_nas.md", "from neural_nas import NAS, NASConfig"): dynas_use,
    (
        "docs/dynamic_nas.md",
        "from neural_nas.supernets import Encoding, SuperNetwork, supernet_registry",
    ): dynas_own_space,
    ("docs/extending.md", "import torch"): extending_approach,
    ("docs/extending.md", "import itertools"): extending_searcher,
    ("docs/getting_started.md", "python -m pip install -e .            # the library"): getting_started_install,
    (
        "docs/getting_started.md",
        "neural-nas search                        # the embedded default: 40-55 s on 2 CPU "
        "cores (benchmarks/RESULTS.md)",
    ): getting_started_commands,
    ("docs/results.md", "import ast"): results_pandas,
    ("docs/after_search.md", 'neural-nas front neural_nas_results/dynas_results.csv --where "macs<=0.5M"'): (
        after_search_commands
    ),
    ("docs/after_search.md", "from neural_nas.config import load_yaml"): after_search_python,
    ("docs/language_models.md", 'python -m pip install -e ".[llm]"   # transformers and safetensors'): (
        getting_started_install
    ),
    ("docs/language_models.md", "nas:"): language_models_yaml,
    ("docs/language_models.md", "from transformers import AutoModelForCausalLM, AutoTokenizer"): (
        language_models_export
    ),
}

ELSEWHERE: dict[tuple[str, str], str] = {
    ("docs/dynamic_nas.md", "# one machine, 4 processes (e.g. 4 GPUs)"): (
        "tests/test_distributed.py::test_two_ranks_measure_each_sub_network_once_and_match_one_process "
        "(ranks launched with the variables torchrun sets) and "
        "tests/test_distributed.py::test_ranks_launched_as_mpirun_launches_them_match_one_process"
    ),
    (
        "docs/extending.md",
        "# my_space.py",
    ): "tests/test_docs_extending.py::test_the_super_network_file_searches_its_space",
    ("docs/extending.md", "# energy_metric.py"): (
        "tests/test_docs_extending.py::test_the_metric_file_gives_a_searchable_metric_with_its_own_column"
    ),
    ("docs/extending.md", "# screened_random.py"): "tests/test_docs_extending.py::test_the_tactic_file_runs_a_search",
    ("docs/extending.md", "from neural_nas.evolution import AlgorithmSpec, algorithm_registry"): (
        "tests/test_docs_extending.py::test_the_algorithm_example_registers_a_working_algorithm"
    ),
    ("docs/getting_started.md", "python examples/basic_nas_digits.py"): (
        "tests/test_examples.py::test_basic_nas_digits_at_reduced_size"
    ),
    (
        "docs/getting_started.md",
        "python examples/custom_supernet.py",
    ): "tests/test_dynas.py::test_custom_supernet_example",
}


def test_every_block_is_executed_somewhere():
    keys = [b.key for b in doc_blocks()]
    assert len(keys) == len(set(keys)), "two blocks of one file share a first line: make one unique"
    unaccounted = [k for k in keys if k not in HERE and k not in ELSEWHERE]
    assert not unaccounted, f"doc blocks no test runs (add them to HERE or ELSEWHERE): {unaccounted}"
    gone = [k for k in [*HERE, *ELSEWHERE] if k not in keys]
    assert not gone, f"entries whose block is no longer in the docs: {gone}"
    for where in ELSEWHERE.values():
        for ref in re.findall(r"(tests/\S+\.py)::(\w+)", where):
            assert f"def {ref[1]}(" in (ROOT / ref[0]).read_text(), f"{ref[0]} has no test {ref[1]}"


@pytest.mark.parametrize("key", list(HERE), ids=[f"{f}:{line[:40]}" for f, line in HERE])
def test_doc_block_runs(key, in_tmp, capsys):
    run = HERE[key]
    b = block(*key)
    if "capsys" in run.__code__.co_varnames[: run.__code__.co_argcount]:
        run(b, capsys)
    else:
        run(b)


def test_python_blocks_parse():
    for b in doc_blocks():
        if b.lang == "python":
            ast.parse(b.code)
