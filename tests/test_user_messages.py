"""What a user sees: each message says what is wrong and what to do, once, and only when there is something to say
(issue 25, item 8)."""

import logging

import pytest

from neural_nas import NAS, NASConfig
from neural_nas.cli import main
from neural_nas.errors import ConfigError
from neural_nas.measurements.context import FEW_EVALUATION_SAMPLES, say_evaluation_size
from neural_nas.results.selection import Constraint
from tests.synthetic_supernet import config


def test_an_unknown_nasconfig_argument_says_what_the_arguments_are():
    with pytest.raises(TypeError, match=r"no argument 'max_trial' \(did you mean 'max_trials'\?\); it takes approach"):
        NASConfig(max_trial=4)


def test_an_unknown_key_says_so_first_not_got_its_value():
    with pytest.raises(ConfigError) as info:
        NASConfig().set("nas.dynas.populaton", 20)
    assert str(info.value).startswith("nas.dynas.populaton is not a known key (did you mean 'nas.dynas.population'?)")
    assert "got" not in str(info.value)


def test_a_results_csv_in_a_folder_that_does_not_exist_is_refused_not_created(in_tmp, synthetic):
    with pytest.raises(ConfigError, match="nas.dynas.results_csv_path.*typo/ does not exist|typo does not exist"):
        NAS(config("synthetic_for_tests", results_csv_path="typo/results.csv")).search()
    assert not (in_tmp / "typo").exists() and synthetic.calls == []


def test_the_torn_last_line_warning_is_said_once(in_tmp, synthetic, caplog):
    c = config("synthetic_for_tests", num_evals=12)
    NAS(c).search()
    with open(in_tmp / "dynas_results.csv", "a") as f:
        f.write("\"{'a': [1")  # a writer killed mid-row
    c.dynas.num_evals = 14
    assert main(["front", "dynas_results.csv", "-q"]) == 0
    NAS(c).search()
    said = [r for r in caplog.records if "incomplete last line" in r.getMessage()]
    assert len(said) == 1


def test_too_few_evaluation_samples_is_a_warning(caplog):
    caplog.set_level(logging.INFO, logger="neural_nas")
    say_evaluation_size("SST-2 accuracy", 1, "dev sentences")
    say_evaluation_size("SST-2 accuracy", FEW_EVALUATION_SAMPLES, "dev sentences")
    few, enough = caplog.records
    assert (
        few.levelname == "WARNING"
        and "only 1 dev sentences" in few.getMessage()
        and "test_fraction" in few.getMessage()
    )
    assert enough.levelname == "INFO"


@pytest.mark.parametrize(("text", "bound"), [("macs<=0.5M", 5e5), ("macs < 1.2G", 1.2e9), ("params<=300k", 3e5)])
def test_where_takes_magnitude_suffixes(text, bound):
    assert Constraint.parse(text, ["macs", "params"]).bound == bound


def test_rerunning_the_written_record_warns_about_nothing_it_wrote_itself(in_tmp, synthetic, caplog):
    assert (
        main(
            ["search", "--no-plots", "-q", "--set", "dynas.supernet=synthetic_for_tests", "--set", "dynas.num_evals=12"]
        )
        == 0
    )
    caplog.clear()
    assert main(["check-config", "neural_nas_results/config.yaml", "-q"]) == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
