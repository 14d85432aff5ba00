"""The `neural-nas` command: exit codes, --set, list, check-config, plot, and `python -m neural_nas`."""

import csv
import re
import subprocess
import sys

import pytest
import yaml

from neural_nas import cli
from neural_nas.cli import main
from neural_nas.config import NASConfig

SMALL = ["--set", "dynas.population=10", "--set", "dynas.num_evals=12", "--set", "dynas.inner_evals=200"]


@pytest.fixture
def config_file(tmp_path):
    document = {
        "nas": {
            "approach": "dynas",
            "search": {"search_algorithm": "nsga2", "seed": 3},
            "dynas": {"supernet": "synthetic_for_tests", "metrics": ["acc", "macs"], "population": 50},
        },
        "device": "cpu",
    }
    path = tmp_path / "nas.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))[1:]


def test_search_writes_the_csv_the_plots_and_prints_the_front(in_tmp, config_file, capsys, synthetic):
    import matplotlib  # noqa: F401  (a dev dependency: fail, never skip)

    assert main(["search", str(config_file), *SMALL, "-o", "out"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front:" in out and "top-1 accuracy (%)" in out and "MACs (M)" in out
    for name in ("dynas_results.csv", "pareto_front.png", "hypervolume.png"):
        assert (in_tmp / "out" / name).is_file(), name
        assert str(in_tmp / "out" / name).endswith(name) and f"out/{name}" in out
    assert len(rows(in_tmp / "out" / "dynas_results.csv")) == 12 and len(synthetic.calls) == 12
    where = re.search(r"--where '([^']+)'", out).group(1)  # the hint's example, sized to this search's MACs
    assert where.startswith("macs<=") and main(["front", "out/dynas_results.csv", "--where", where]) == 0
    assert 0 < int(re.search(r"of (\d+) of 12 measured", capsys.readouterr().out).group(1)) < 12
    ran = yaml.safe_load((in_tmp / "out" / "config.yaml").read_text())
    assert ran["nas"]["dynas"]["population"] == 10 and ran["nas"]["search"]["seed"] == 3
    assert yaml.safe_load(config_file.read_text())["nas"]["dynas"]["population"] == 50  # the user's file is untouched

    # the same command again resumes: nothing is measured twice
    assert main(["search", str(config_file), *SMALL, "-o", "out", "--no-plots"]) == 0
    assert len(synthetic.calls) == 12 and len(rows(in_tmp / "out" / "dynas_results.csv")) == 12


def test_search_where_measures_only_sub_networks_within_it(in_tmp, config_file, register_supernet, synthetic):
    """``search --where`` constrains the search itself (here a space whose MACs are exact: a Synthetic subclass)."""
    from tests.synthetic_supernet import ExactMacs

    class Space(ExactMacs):
        name = "synthetic_exact_macs_cli"

    register_supernet(Space)
    code = main(
        ["search", str(config_file), *SMALL, "--set", f"nas.dynas.supernet={Space.name}", "--where", "macs<=10M"]
        + ["--no-plots", "-o", "out"]
    )
    assert code == 0
    with open(in_tmp / "out" / "dynas_results.csv", newline="") as f:
        macs = [float(row["MACs"]) for row in csv.DictReader(f)]
    assert len(macs) == 12 and max(macs) <= 10e6


def test_search_keeps_the_configured_results_csv(in_tmp, config_file):
    code = main(["search", str(config_file), *SMALL, "--set", "nas.dynas.results_csv_path=mine.csv", "--no-plots"])
    assert code == 0
    assert len(rows(in_tmp / "mine.csv")) == 12


def test_no_argument_search_runs_the_default_config(in_tmp, monkeypatch, capsys):
    assert cli.DEFAULT_SEARCH["nas"]["dynas"]["supernet"] == cli.DEFAULT_SUPERNET == "ofa_mbv3_digits"
    NASConfig.from_dict(cli.DEFAULT_SEARCH)  # a valid document
    cheap = {"supernet": "synthetic_for_tests", "metrics": ["acc", "macs"], "population": 10, "num_evals": 11}
    monkeypatch.setitem(cli.DEFAULT_SEARCH["nas"], "dynas", {**cheap, "inner_evals": 100})
    assert main(["search", "--no-plots", "-q"]) == 0
    assert len(rows(in_tmp / cli.DEFAULT_OUTPUT_DIR / "dynas_results.csv")) == 11
    assert "Pareto front:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("dynas.populaton=20", "nas.dynas.populaton"),
        ("dynas.population=5", "nas.dynas.population"),
        ("dynas.population=many", "nas.dynas.population"),
        ("dynas.population", "KEY=VALUE"),
        ("dynas.metrics=[acc, macs", "nas.dynas.metrics"),
        ("search.search_algorithm=nsga9", "nas.search.search_algorithm"),  # not a registered algorithm
    ],
)
def test_bad_set_is_exit_2_naming_the_key(in_tmp, config_file, capsys, item, message, synthetic):
    assert main(["search", str(config_file), "--set", item]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert synthetic.calls == [] and not (in_tmp / "neural_nas_results" / "dynas_results.csv").exists()


def test_parse_set():
    assert cli.parse_set("dynas.population=20") == ("nas.dynas.population", 20)
    assert cli.parse_set("nas.search.seed=3") == ("nas.search.seed", 3)
    assert cli.parse_set("dynas.metrics=[acc, lat]") == ("nas.dynas.metrics", ["acc", "lat"])
    assert cli.parse_set("dynas.results_csv_path=") == ("nas.dynas.results_csv_path", None)


def test_missing_config_and_basic_approach_are_exit_2(in_tmp, capsys):
    assert main(["search", "missing.yaml"]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    basic = in_tmp / "basic.yaml"
    basic.write_text(yaml.safe_dump({"nas": {"approach": "basic", "search": {"search_space": {"c": [1, 2]}}}}))
    assert main(["search", str(basic)]) == 2
    assert "BasicNAS needs Python code" in capsys.readouterr().err
    assert main(["search", "--bogus"]) == 2  # argparse usage error


def test_failure_during_the_search_is_exit_1(in_tmp, config_file, capsys, synthetic):
    synthetic.fail_at = 1  # the first measurement fails
    assert main(["search", str(config_file), *SMALL]) == 1
    err = capsys.readouterr().err
    assert "device lost" in err and "Traceback" not in err


def test_check_config(config_file, capsys, synthetic):
    assert main(["check-config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "synthetic_for_tests" in out
    assert main(["check-config", str(config_file), "--set", "dynas.metrics=[acc, params]"]) == 2
    assert "nas.dynas.metrics" in capsys.readouterr().err
    assert synthetic.calls == []


def test_list_reads_the_registries(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "basic",
        "dynas",
        "synthetic_for_tests",
        "ofa_resnet50",
        "accuracy_top1",
        "alias: acc",
        "nsga2 (default)",
    ):
        assert name in out, name


def test_plot_command(in_tmp, config_file, capsys):
    import matplotlib  # noqa: F401  (a dev dependency: fail, never skip)

    assert main(["search", str(config_file), *SMALL, "--no-plots", "-o", "out"]) == 0
    capsys.readouterr()
    assert main(["plot", "out/dynas_results.csv", "--metrics", "acc,macs", "-o", "plots"]) == 0
    assert (in_tmp / "plots" / "pareto_front.png").is_file() and (in_tmp / "plots" / "hypervolume.png").is_file()
    assert "Pareto front:" in capsys.readouterr().out
    assert main(["plot", "nothing.csv"]) == 2


def test_python_dash_m_help():
    done = subprocess.run([sys.executable, "-m", "neural_nas", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "usage: neural-nas" in done.stdout and "search" in done.stdout and "check-config" in done.stdout


def test_config_yaml_records_what_ran_and_a_finished_search_is_left_alone(in_tmp, config_file, caplog, synthetic):
    assert main(["search", str(config_file), *SMALL, "-o", "out", "--no-plots"]) == 0
    record = in_tmp / "out" / "config.yaml"
    ran = yaml.safe_load(record.read_text())
    # every value the search used is resolved, and the Basic-only keys are not recorded
    assert ran["nas"]["dynas"]["inner_evals"] == 200 and ran["nas"]["dynas"]["initial_population"] == 10
    assert ran["nas"]["search"]["search_algorithm"] == "nsga2" and ran["nas"]["dynas"]["device"] == "cpu"
    assert ran["nas"]["dynas"]["results_csv_path"].endswith("dynas_results.csv")
    assert "max_trials" not in ran["nas"]["search"] and "search_space" not in ran["nas"]["search"]
    NASConfig.from_dict(ran)  # the record is a valid config
    first = record.read_text()

    # nothing left to do: said plainly, nothing measured, the record untouched
    caplog.set_level("INFO", logger="neural_nas")
    changed = ["--set", "dynas.population=20", "--set", "nas.search.seed=4"]
    assert main(["search", str(config_file), *SMALL, *changed, "-o", "out", "--no-plots"]) == 0
    assert len(synthetic.calls) == 12 and record.read_text() == first
    assert not (in_tmp / "out" / "config.2.yaml").exists()
    message = next(r.getMessage() for r in caplog.records if "nothing to measure" in r.getMessage())
    assert "12 measured" in message and "num_evals is 12" in message and "--set dynas.num_evals=" in message

    # more measurements with other settings beside the same results: recorded beside the first record
    more = ["--set", "dynas.num_evals=22"]
    assert main(["search", str(config_file), *SMALL, *changed, *more, "-o", "out", "--no-plots"]) == 0
    assert len(synthetic.calls) == 22 and record.read_text() == first
    second = yaml.safe_load((in_tmp / "out" / "config.2.yaml").read_text())
    assert second["nas"]["dynas"]["population"] == 20 and second["nas"]["search"]["seed"] == 4
    assert any("config.2.yaml" in r.getMessage() and "nas.search.seed" in r.getMessage() for r in caplog.records)


def test_plot_defaults_to_the_objectives_of_the_recorded_run(in_tmp, capsys, synthetic):
    document = {
        "nas": {
            "approach": "dynas",
            "search": {"seed": 3},
            "dynas": {"supernet": "synthetic_for_tests", "metrics": ["acc", "latency"], "population": 10},
        }
    }
    (in_tmp / "nas.yaml").write_text(yaml.safe_dump(document))
    assert (
        main(
            [
                "search",
                "nas.yaml",
                "--set",
                "dynas.num_evals=12",
                "--set",
                "dynas.inner_evals=200",
                "-o",
                "out",
                "--no-plots",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["plot", "out/dynas_results.csv"]) == 0
    out = capsys.readouterr().out
    assert "objectives of the run recorded beside it: acc, latency" in out
    assert "latency" in out.lower() and "MACs" not in out.splitlines()[2]  # the front's header: searched metrics only
    assert main(["plot", "out/dynas_results.csv", "--metrics", "acc,macs"]) == 0
    assert "MACs (M)" in capsys.readouterr().out
