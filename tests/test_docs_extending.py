"""The one-file examples of docs/extending.md run as written (a metric, a super-network, a tactic, an algorithm)."""

import re
from pathlib import Path

import pytest

from neural_nas import NAS
from neural_nas.evolution import algorithm_registry
from neural_nas.evolution.tactics import tactic_registry
from neural_nas.measurements import metric_registry
from neural_nas.supernets import supernet_registry
from tests.synthetic_supernet import config

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def snippet(first_line: str) -> str:
    """The python block of the doc whose first line is ``first_line`` (e.g. ``# my_space.py``)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    found = [b for b in blocks if b.splitlines()[0] == first_line]
    assert len(found) == 1, f"docs/extending.md has no single block starting {first_line!r}"
    return found[0]


@pytest.fixture
def scoped():
    with supernet_registry.scoped(), metric_registry.scoped(), tactic_registry.scoped(), algorithm_registry.scoped():
        yield


def test_the_super_network_file_searches_its_space(in_tmp, scoped, capsys):
    exec(compile(snippet("# my_space.py"), "my_space.py", "exec"), {})
    front = eval(capsys.readouterr().out)  # the printed measured front: a list of sub-network dicts
    rows = (in_tmp / "my_space.csv").read_text().splitlines()
    assert len(rows) == 1 + 20 and front and all(set(s) == {"width", "depth"} for s in front)


def test_the_metric_file_gives_a_searchable_metric_with_its_own_column(scoped):
    exec(compile(snippet("# energy_metric.py"), "energy_metric.py", "exec"), {})
    energy = metric_registry.get("mj")
    assert (energy.name, energy.csv_column, energy.higher_is_better) == ("energy", "Energy (mJ)", False)


def test_the_tactic_file_runs_a_search(in_tmp, scoped):
    exec(compile(snippet("# screened_random.py"), "screened_random.py", "exec"), {})
    agent = NAS(config("synthetic_for_tests", num_evals=30, search_tactic="screened_random"))
    agent.search()
    assert len(agent.study) == 30 and len({str(t.arch) for t in agent.study.trials}) == 30


def test_the_algorithm_example_registers_a_working_algorithm(in_tmp, scoped):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    exec(compile(next(b for b in blocks if "make_sms" in b), "sms.py", "exec"), {})
    agent = NAS(config("synthetic_for_tests", algorithm="sms", num_evals=20))
    agent.search()
    assert agent.algorithm.name == "sms" and len(agent.study) == 20
