"""Crash safety for real: searches in a subprocess, killed with SIGKILL at chosen points, then started again.

The script below (written into tmp_path) honours ``KILL_AT=<point>:<n>``: at the n-th time this process reaches
``point`` it writes a marker file and blocks, and the test kills it. Points: ``measure`` (inside a measurement),
``row`` (right after a results line is on disk) and ``fit`` (inside predictor fitting, Dynamic NAS). The measuring
functions append ``start`` / ``end`` / ``fail`` events to a side log, so the test counts real measurements.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from neural_nas.results.dynast_csv import HEADER
from tests.synthetic_supernet import ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

SCRIPT = r"""
import json, os, sys, time
from pathlib import Path

MODE, WORK = sys.argv[1], Path(sys.argv[2])
KILL_AT = os.environ.get("KILL_AT", "")
ON_ERROR = os.environ.get("ON_ERROR", "raise")
MARKER, SIDE = WORK / "killme", WORK / "measurements.log"
_counts = {}


def checkpoint(point):
    _counts[point] = _counts.get(point, 0) + 1
    if KILL_AT == f"{point}:{_counts[point]}":
        MARKER.write_text(point)
        while True:  # the test kills this process here
            time.sleep(0.5)


def side(event, arch):
    with open(SIDE, "a") as f:
        f.write(json.dumps({"event": event, "arch": arch}, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


from neural_nas.results import journal as _journal

_append = _journal.DurableAppender.append


def append(self, line):
    _append(self, line)
    checkpoint("row")


_journal.DurableAppender.append = append


def basic():
    import torch
    from neural_nas import NAS, NASConfig

    torch.set_num_threads(1)
    conf = NASConfig(approach="basic", search_space={"width": [2, 4, 8], "depth": [1, 2, 3]}, search_algorithm="random")
    conf.nas.search.max_trials = 6
    conf.nas.search.metrics = ["loss", "size"]
    conf.nas.search.higher_is_better = [False, False]
    conf.nas.search.on_error = ON_ERROR

    def build(arch):
        torch.manual_seed(0)
        layers = [torch.nn.Linear(arch["width"] if i else 4, arch["width"]) for i in range(arch["depth"])]
        model = torch.nn.Sequential(*layers, torch.nn.Linear(arch["width"], 1))
        model.arch = dict(arch)
        return model

    x = torch.linspace(-1, 1, 32).reshape(8, 4)
    y = x.sum(1, keepdim=True)

    def train(model):
        side("start", model.arch)
        for step in range(20):  # plain SGD (torch.optim's first step imports torch._dynamo: seconds)
            model.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.05 * p.grad
            if step == 10:
                time.sleep(0.02)
                checkpoint("measure")

    def evaluate(model):
        with torch.no_grad():
            loss = float(torch.nn.functional.mse_loss(model(x), y))
        side("end", model.arch)
        return {"loss": loss, "size": sum(p.numel() for p in model.parameters())}

    agent = NAS(conf, model_builder=build)
    agent.train_func, agent.eval_func = train, evaluate
    agent.search(str(WORK))


def dynas():
    from neural_nas import NAS
    from neural_nas.predictors import Predictor
    from neural_nas.supernets import supernet_registry
    from tests.synthetic_supernet import Synthetic, config

    @supernet_registry("crash_synthetic")
    class CrashSynthetic(Synthetic):
        name = "crash_synthetic"
        metrics = ("accuracy_top1", "macs")

        def measure(self, subnet, metrics):
            side("start", subnet)
            time.sleep(0.01)
            checkpoint("measure")
            if os.environ.get("FAILING") and sum(subnet["a"]) % 4 == 0:
                side("fail", subnet)
                raise RuntimeError("simulated device error")
            result = super().measure(subnet, metrics)
            side("end", subnet)
            return result

    fit = Predictor.fit

    def checked_fit(self, X, y):
        result = fit(self, X, y)
        checkpoint("fit")
        return result

    Predictor.fit = checked_fit
    conf = config("crash_synthetic", num_evals=30, inner_evals=300, results_csv_path=str(WORK / "results.csv"),
                  search={"on_error": ON_ERROR})
    NAS(conf).search()


{"basic": basic, "dynas": dynas}[MODE]()
"""


def start(work: Path, mode: str, kill_at: str = "", **env: str) -> subprocess.Popen:
    work.mkdir(exist_ok=True)
    script = work.parent / "search_script.py"
    if not script.exists():
        script.write_text(SCRIPT)
    (work / "killme").unlink(missing_ok=True)
    environment = {
        **os.environ,
        "KILL_AT": kill_at,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(work)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_to_end(work: Path, mode: str, **env: str) -> subprocess.CompletedProcess:
    proc = start(work, mode, **env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_and_kill(work: Path, mode: str, kill_at: str, **env: str) -> None:
    """Start the search, wait until it blocks at ``kill_at``, kill it with SIGKILL."""
    proc = start(work, mode, kill_at, **env)
    deadline = time.monotonic() + 120
    while not (work / "killme").exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the search ended (rc {proc.returncode}) before reaching {kill_at}: {err[-3000:]}")
        assert time.monotonic() < deadline, f"the search never reached {kill_at}"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def events(work: Path) -> list[tuple[str, str]]:
    path = work / "measurements.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(e["event"], json.dumps(e["arch"], sort_keys=True)) for e in map(json.loads, lines)]


def journal_archs(work: Path) -> list[str]:
    lines = (work / "NASResults" / "results.jsonl").read_text().splitlines()
    return [json.dumps(json.loads(line)["arch"], sort_keys=True) for line in lines if "metrics" in json.loads(line)]


def csv_rows(work: Path) -> list[list[str]]:
    with open(work / "results.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER
    assert all(len(r) == len(HEADER) for r in rows[1:])
    return rows[1:]


def csv_archs(work: Path) -> list[str]:
    import ast

    return [json.dumps({k: v for k, v in ast.literal_eval(r[0]).items()}, sort_keys=True) for r in csv_rows(work)]


def check_no_loss_no_repeat(work: Path, recorded: list[str]) -> None:
    """Each completed measurement (an `end` event) is recorded exactly once, and nothing is recorded unmeasured."""
    ended = [arch for event, arch in events(work) if event == "end"]
    repeated = [arch for arch, n in Counter(ended).items() if n > 1]
    assert not repeated, f"measured more than once: {repeated}"
    assert len(recorded) == len(set(recorded))
    assert set(ended) == set(recorded)


def kill_and_finish(work: Path, mode: str, kills: list[tuple[str, int | None]], **env: str) -> list[str]:
    """Kill at each ``(point, results then on disk or None)`` in turn, run to the end, check; the recorded archs."""
    recorded = journal_archs if mode == "basic" else csv_archs
    for kill_at, count in kills:
        run_and_kill(work, mode, kill_at, **env)
        if count is not None:
            assert len(recorded(work)) == count
    run_to_end(work, mode, **env)
    archs = recorded(work)
    check_no_loss_no_repeat(work, archs)
    return archs


@pytest.fixture(scope="module")
def reference_basic(tmp_path_factory) -> list[str]:
    work = tmp_path_factory.mktemp("reference") / "basic"
    run_to_end(work, "basic")
    return journal_archs(work)


@pytest.fixture(scope="module")
def reference_dynas(tmp_path_factory) -> int:
    work = tmp_path_factory.mktemp("reference") / "dynas"
    run_to_end(work, "dynas")
    return len(csv_rows(work))


def test_basic_nas_killed_at_several_points_loses_and_repeats_nothing(tmp_path, reference_basic):
    work = tmp_path / "basic"
    run_and_kill(work, "basic", "measure:2")  # inside the second training
    assert len(journal_archs(work)) == 1
    assert (work / "NASResults" / "results.jsonl.lock").exists()  # stale after the kill: must not block
    # row:2: right after the second result of this run is on disk
    recorded = kill_and_finish(work, "basic", [("row:2", 3), ("measure:1", 3)])
    assert len(recorded) == len(reference_basic) == 6
    assert sorted(recorded) == sorted(reference_basic)  # the seeded random searcher resumes the same search
    final = (work / "NASResults" / "Final_results.txt").read_text()
    assert final.startswith("Search results: 6 architectures")
    assert not list((work / "NASResults").glob(".*.tmp*"))  # leftovers of interrupted atomic writes are removed


def test_dynas_killed_at_several_points_loses_and_repeats_nothing(tmp_path, reference_dynas):
    kills = [
        ("measure:4", 3),  # inside the fourth measurement of the first population
        ("row:9", 12),  # right after a row is on disk (the first population continues)
        ("fit:1", 12),  # while fitting the first predictors
        ("row:3", 15),
    ]
    recorded = kill_and_finish(tmp_path / "dynas", "dynas", kills)
    assert len(recorded) == reference_dynas == 30


def test_dynas_skip_mode_killed_after_a_failure_is_recorded(tmp_path):
    """With on_error: skip, a recorded failure survives a kill and is not measured again on resume."""
    work = tmp_path / "dynas"
    recorded = kill_and_finish(work, "dynas", [("row:6", None), ("fit:2", None)], ON_ERROR="skip", FAILING="1")
    failed = [arch for event, arch in events(work) if event == "fail"]
    assert failed, "the search space should have produced failures"
    assert len(failed) == len(set(failed)), "a recorded failure was measured again"
    assert len(recorded) + len(failed) == 30  # failures count toward num_evals
    lines = (work / "results.csv.failures.jsonl").read_text().splitlines()
    stored = [json.dumps(json.loads(line)["arch"], sort_keys=True) for line in lines]
    assert sorted(stored) == sorted(failed) and not set(stored) & set(recorded)


@pytest.mark.parametrize("mode", ["basic", "dynas"])
def test_a_second_search_on_the_same_results_file_is_refused(tmp_path, mode):
    work = tmp_path / mode
    results = work / ("NASResults/results.jsonl" if mode == "basic" else "results.csv")
    first = start(work, mode, "measure:2")  # holds the lock, blocked inside its second measurement
    try:
        deadline = time.monotonic() + 120
        while not (work / "killme").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        before = results.read_bytes()
        second = start(work, mode)
        _, err = second.communicate(timeout=120)
        assert second.returncode != 0
        assert "ResultsLockedError" in err and str(results) in err and "in use by another search" in err
        assert f"process {first.pid}" in err
        assert results.read_bytes() == before  # the refused search touched nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    ended = [arch for event, arch in events(work) if event == "end"]
    assert len(ended) == 1  # the second search measured nothing


def test_lock_in_process(tmp_path):
    from neural_nas.errors import NASError, ResultsLockedError
    from neural_nas.results.lock import ResultsLock

    target = tmp_path / "r.csv"
    with ResultsLock(target):
        with pytest.raises(ResultsLockedError, match="r.csv") as info:
            ResultsLock(target).acquire()
        assert isinstance(info.value, NASError) and isinstance(info.value, RuntimeError)
        assert str(os.getpid()) in str(info.value)
    with ResultsLock(target):  # released on exit
        pass
