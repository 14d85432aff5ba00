"""Distributed Dynamic NAS: `torchrun --nproc_per_node=2` on the CPU (gloo) against the same search in one process."""

import csv
import os
import subprocess
import sys
import textwrap

import pytest

from tests.synthetic_supernet import ROOT

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from neural_nas import NAS
    from neural_nas.supernets import supernet_registry
    from tests.synthetic_supernet import Synthetic, config

    LOG = sys.argv[2]
    DIE_AFTER = int(os.environ.get("DIE_AFTER", "0"))  # rank 1 exits after measuring this many (0: never)

    @supernet_registry("dist_synthetic")
    class Logged(Synthetic):
        name = "dist_synthetic"
        metrics = ("accuracy_top1", "macs")

        def measure(self, subnet, metrics):
            rank = os.environ.get("RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
            if rank == "1" and DIE_AFTER and len(self.calls) >= DIE_AFTER:
                os._exit(3)  # a rank that dies, without any clean-up
            result = super().measure(subnet, metrics)
            with open(LOG, "a") as f:
                f.write(f"{rank} {subnet['a']} {subnet['b']}\\n")
            return result

    c = config("dist_synthetic", algorithm="nsga2", num_evals=25, results_csv_path=sys.argv[1],
               distributed=os.environ.get("DISTRIBUTED") == "1")
    assert len(NAS(c).search()) == 10
    """
)


def run(tmp_path, name, distributed, die_after=0):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "DISTRIBUTED": "1" if distributed else "0",
        "DIE_AFTER": str(die_after),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),  # the script imports tests.synthetic_supernet
    }
    args = [str(tmp_path / f"{name}.csv"), str(tmp_path / f"{name}.log")]
    if distributed:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", str(script)]
    else:
        command = [sys.executable, str(script)]
    return subprocess.run(command + args, env=env, capture_output=True, text=True, timeout=300)


def rows(path):
    with open(path, newline="") as f:
        return [(r[0], *r[2:]) for r in list(csv.reader(f))[1:]]  # without the Date column


def log(path):
    return [line.split(" ", 1) for line in path.read_text().splitlines()]


def test_two_ranks_measure_each_sub_network_once_and_match_one_process(tmp_path):
    single = run(tmp_path, "single", distributed=False)
    assert single.returncode == 0, single.stderr[-2000:]
    double = run(tmp_path, "double", distributed=True)
    assert double.returncode == 0, double.stderr[-3000:]
    assert rows(tmp_path / "double.csv") == rows(tmp_path / "single.csv")  # same seed, same search, same order
    measured = log(tmp_path / "double.log")
    assert len(measured) == 25 and len({s for _, s in measured}) == 25  # each measured exactly once
    assert {rank for rank, _ in measured} == {"0", "1"}  # and the work was split


@pytest.mark.parametrize("die_after", [3])
def test_a_dying_rank_fails_the_run_and_leaves_a_resumable_file(tmp_path, die_after):
    failed = run(tmp_path, "run", distributed=True, die_after=die_after)
    assert failed.returncode != 0
    written = rows(tmp_path / "run.csv")  # parses: every row complete
    assert 0 < len(written) < 25 and len(set(written)) == len(written)
    resumed = run(tmp_path, "run", distributed=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = rows(tmp_path / "run.csv")
    assert final[: len(written)] == written and len(final) == 25 and len(set(final)) == 25


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ranks_launched_as_mpirun_launches_them_match_one_process(tmp_path):
    """mpirun sets Open MPI's variables (OMPI_COMM_WORLD_*), not torch's: the ranks are launched here exactly so."""
    single = run(tmp_path, "single", distributed=False)
    assert single.returncode == 0, single.stderr[-2000:]
    script = tmp_path / "search.py"
    port = str(free_port())
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    base.update({"DISTRIBUTED": "1", "DIE_AFTER": "0", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    ranks = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "mpi.csv"), str(tmp_path / "mpi.log")],
            env={
                **base,
                "OMPI_COMM_WORLD_RANK": str(rank),
                "OMPI_COMM_WORLD_LOCAL_RANK": str(rank),
                "OMPI_COMM_WORLD_SIZE": "2",
                "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
                "MASTER_PORT": port,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    results = [p.communicate(timeout=300) for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    assert rows(tmp_path / "mpi.csv") == rows(tmp_path / "single.csv")
    measured = log(tmp_path / "mpi.log")
    assert len({s for _, s in measured}) == len(measured) == 25 and {r for r, _ in measured} == {"0", "1"}


def test_mpi_launchers_are_read_and_the_environment_is_left_alone():
    from neural_nas.distributed import launch_of
    from neural_nas.errors import ConfigError

    mpi = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}
    before = dict(mpi)
    launch = launch_of(mpi)
    assert (launch.launcher, launch.rank, launch.world_size, launch.local_rank) == ("Open MPI", 1, 2, 1)
    assert launch.init_method == "tcp://127.0.0.1:29500" and mpi == before  # nothing written
    mpich = launch_of({"PMI_RANK": "3", "PMI_SIZE": "4", "MASTER_ADDR": "node0", "MASTER_PORT": "1234"})
    assert (mpich.launcher, mpich.rank, mpich.init_method) == ("MPICH", 3, "tcp://node0:1234")
    torchrun = launch_of({"WORLD_SIZE": "2", "RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"})
    assert torchrun.launcher == "torchrun" and torchrun.init_method is None  # torch's own variables win
    assert launch_of({}) is None
    with pytest.raises(ConfigError, match="MASTER_ADDR"):
        launch_of({**mpi, "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"})
