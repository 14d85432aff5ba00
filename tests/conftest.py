"""Shared fixtures: the cheap super-network, the Basic NAS model builder, the Dynamic NAS config helper, and a
registry scope around every test (whatever a test registers is gone after it, so nothing leaks between files)."""

import contextlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests.…` imports work under a bare `pytest` too, not only `python -m pytest`
    sys.path.insert(0, str(ROOT))

# Importing these registers every built-in (approaches, searchers, super-networks, ...) before any scope is taken:
# a built-in first registered inside a test's scope would be undone after that test and never come back.
import neural_nas  # noqa: E402, F401  (registers the approaches)
from neural_nas.evolution import algorithm_registry  # noqa: E402
from neural_nas.evolution.tactics import tactic_registry  # noqa: E402
from neural_nas.export.formats import format_registry  # noqa: E402
from neural_nas.measurements import metric_registry  # noqa: E402
from neural_nas.nas import nas_registry  # noqa: E402
from neural_nas.searchers import searcher_registry  # noqa: E402
from neural_nas.supernets import supernet_registry  # noqa: E402
from neural_nas.training import criterion_registry, dataset_registry, optimizer_registry  # noqa: E402
from tests.synthetic_supernet import SPACE, Synthetic, build, check_racing, config  # noqa: E402

REGISTRIES = (
    nas_registry,
    searcher_registry,
    supernet_registry,
    algorithm_registry,
    tactic_registry,
    metric_registry,
    dataset_registry,
    optimizer_registry,
    criterion_registry,
    format_registry,
)


@pytest.fixture(autouse=True)
def scoped_registries():
    """Every test runs inside ``scoped()`` of every registry: what it registers or replaces is undone after it.

    The value is the registries. A fixture that registers something depends on this one, so it runs inside the scope.
    """
    with contextlib.ExitStack() as stack:
        for registry in REGISTRIES:
            stack.enter_context(registry.scoped())
        yield REGISTRIES


@pytest.fixture
def register_supernet(scoped_registries):
    """``register_supernet(cls)`` registers a super-network class under its ``name`` for this test only."""

    def register(cls):
        supernet_registry.register(cls.name, cls)
        return cls

    return register


@pytest.fixture(autouse=True)
def synthetic():
    """The shared cheap super-network class (``synthetic_for_tests``), with an empty call log and no failure set.

    Autouse: its subclasses in other files inherit ``fail_at`` and (unless they have their own) the call log.
    """
    Synthetic.calls, Synthetic.fail_at = [], None
    yield Synthetic
    Synthetic.calls, Synthetic.fail_at = [], None


@pytest.fixture
def dynas_config():
    """The Dynamic NAS config helper: ``dynas_config(supernet, metrics, algorithm, population=10, ...)``."""
    return config


@pytest.fixture
def racing_check():
    """``racing_check(measure, subnet, metric, beyond)``: racing gives the unraced value, or stops early."""
    return check_racing


@pytest.fixture
def model_builder():
    """The Basic NAS model builder: ``depth`` Linear(width, width) layers, for architectures of `basic_space`."""
    return build


@pytest.fixture
def basic_space():
    """The Basic NAS search space of the tests (a fresh copy): width 2, 4, 8 by depth 1, 2, 3."""
    return {key: list(choices) for key, choices in SPACE.items()}


@pytest.fixture
def plt():
    """matplotlib's pyplot on the Agg backend, with no figure open before the test or left after it."""
    import matplotlib  # a dev dependency: fail, never skip

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    yield plt
    plt.close("all")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test inside an empty folder (searches write NASResults/ to the working directory)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The models in the tests are tiny: one thread is faster and steadier on a shared 2-core machine."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def _reference_tests_in_a_folder_of_their_own(request, tmp_path_factory):
    """The reference's own test (test_inc_nas_v26.py) writes into the working directory from setUpClass: run that
    module in a temporary folder, entered before its class set-up."""
    if not request.module.__name__.endswith("test_inc_nas_v26"):
        yield
        return
    import os

    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("inc_nas_v26"))
    yield
    os.chdir(before)
