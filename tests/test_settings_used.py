"""Every setting is used or said to have no effect: measurement keys a super-network does not read, the other
approach's sections, worker counts beyond the machine (issue 16)."""

import logging

import pytest

from neural_nas import NAS, NASConfig
from neural_nas._machine import available_cpus, cap_workers
from neural_nas.measurements.context import IMAGE_CLASSIFICATION_SETTINGS
from neural_nas.supernets import SuperNetwork, supernet_registry


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_measurement_key_the_super_network_does_not_read_is_a_warning(caplog, dynas_config):
    caplog.set_level("WARNING", logger="neural_nas")
    NAS(dynas_config("synthetic_for_tests", calibration_size=100, latency_steps=3))
    said = warnings_of(caplog)
    assert len(said) == 2
    assert any(
        "nas.dynas.calibration_size has no effect" in m and "measures its sub-networks itself" in m for m in said
    )
    assert any("nas.dynas.latency_steps" in m for m in said)


def test_keys_the_super_network_reads_are_not_warned_about(caplog, dynas_config):
    caplog.set_level("WARNING", logger="neural_nas")
    assert "calibration_size" in supernet_registry.get("ofa_mbv3_d234_e346_k357_w1.2").measurement_settings
    NAS(dynas_config("ofa_mbv3_d234_e346_k357_w1.2", metrics=("macs", "params"), calibration_size=100))
    assert not [m for m in warnings_of(caplog) if "has no effect" in m]


def test_a_super_network_that_measures_itself_may_declare_what_it_reads():
    class Reads(SuperNetwork):
        measures_itself = True
        measurement_settings = ("eval_batch_size",)

        def measure(self, subnet, metrics):
            return {}

    class Inherits(Reads):
        pass

    class Own(SuperNetwork):
        measures_itself = True

        def measure(self, subnet, metrics):
            return {}

    assert Inherits.measurement_settings == ("eval_batch_size",) and Own.measurement_settings == ()
    assert SuperNetwork.measurement_settings == IMAGE_CLASSIFICATION_SETTINGS


def test_the_other_approachs_settings_are_warned_about(caplog, dynas_config, basic_space, model_builder):
    caplog.set_level("WARNING", logger="neural_nas")
    config = dynas_config("synthetic_for_tests")
    config.set("train", {"epoch": 1})
    NAS(config)
    assert any("`train:` section has no effect in Dynamic NAS" in m for m in warnings_of(caplog))

    caplog.clear()
    basic = NASConfig(approach="basic", search_space=basic_space)
    basic.dynas.population = 20
    NAS(basic, model_builder=model_builder)
    assert warnings_of(caplog) == [
        "nas.dynas.population has no effect in Basic NAS (Dynamic NAS reads it; nas.approach: dynas)"
    ]


@pytest.mark.parametrize("extra", [0, 18])
def test_worker_counts_are_capped_to_the_machine(caplog, extra):
    caplog.set_level("INFO", logger="neural_nas")
    cpus = available_cpus()
    assert cap_workers(cpus + extra, "nas.dynas.num_workers") == cpus
    noted = [r.getMessage() for r in caplog.records if "num_workers" in r.getMessage()]
    assert bool(noted) == (extra > 0)
    assert cap_workers(0, "k") == 0


@pytest.mark.parametrize(("supernet", "warned"), [("inc_quantization_ofa_resnet50", False), ("ofa_resnet50", True)])
def test_the_quantization_calibration_key_is_read_by_the_quantization_super_network_only(
    caplog, dynas_config, supernet, warned
):
    caplog.set_level("WARNING", logger="neural_nas")
    NAS(dynas_config(supernet, metrics=("params",), mp_calibration_samples=50))
    assert any("mp_calibration_samples has no effect" in m for m in warnings_of(caplog)) == warned
