import logging

import pytest
import yaml

import neural_nas
from neural_nas import NAS, BasicNAS, NASBase, NASConfig, nas_registry
from neural_nas.errors import ConfigError


def test_drop_in_import_paths():
    from neural_nas.conf.config import NASConfig as C2
    from neural_nas.experimental import NAS as N2
    from neural_nas.experimental.nas import NAS as N3
    from neural_nas.experimental.nas import BasicNAS as B2
    from neural_nas.experimental.nas import NASBase as NB2
    from neural_nas.experimental.nas import nas_registry as R2

    assert (C2, N2, N3, B2, NB2, R2) == (NASConfig, NAS, NAS, BasicNAS, NASBase, nas_registry)


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, neural_nas; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def write(tmp_path, document):
    path = tmp_path / "nas.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_yaml_dispatch_to_basic_with_positional_arguments(tmp_path):
    space = {"a": [1, 2]}
    builder = lambda arch: None  # noqa: E731
    agent = NAS(write(tmp_path, {"nas": {"approach": "BASIC"}}), space, builder)
    assert type(agent) is BasicNAS
    assert agent.search_space == space and agent.model_builder is builder


@pytest.mark.parametrize("approach", [None, ""])
def test_unset_approach_means_basic_with_a_warning(approach, caplog):
    with caplog.at_level(logging.WARNING, logger="neural_nas"):
        agent = NAS(NASConfig(approach=approach))
    assert type(agent) is BasicNAS
    assert "nas.approach is unset" in caplog.text


def test_unknown_approach_lists_the_registered_ones():
    with pytest.raises(ConfigError) as info:
        NAS(NASConfig(approach="basik"))
    assert (
        "nas.approach" in str(info.value) and "basic" in str(info.value) and "did you mean 'basic'" in str(info.value)
    )


def test_missing_file_and_wrong_type():
    with pytest.raises(FileNotFoundError, match="no/such/file.yaml"):
        NAS("no/such/file.yaml")
    with pytest.raises(TypeError, match="YAML file .*, a NASConfig or a Config"):
        NAS(42)


def test_each_call_gets_its_own_config():
    config = NASConfig(approach="basic")
    first = NAS(config)
    config.nas.search.max_trials = 7
    second = NAS(config)
    assert first.conf.nas.search.max_trials is None and second.conf.nas.search.max_trials == 7
    first.conf.nas.search.seed = 1
    assert config.nas.search.seed == 42


def test_user_approach_end_to_end(in_tmp):
    @nas_registry("CountingNAS")
    class CountingNAS(NASBase):
        def __init__(self, conf, search_space=None, model_builder=None):
            super().__init__(search_space, model_builder)
            self.conf = conf

        def estimate(self, model):
            return {"params": sum(p.numel() for p in model.parameters()), "depth": len(model)}

    import torch

    config = NASConfig(approach="countingnas", search_space={"n": [1, 2, 3]}, search_algorithm="grid")
    config.nas.search.higher_is_better = [False, True]
    config.nas.search.max_trials = 3
    agent = NAS(config, model_builder=lambda a: torch.nn.Sequential(*[torch.nn.Linear(2, 2)] * a["n"]))
    assert isinstance(agent, CountingNAS)
    front = agent.search()
    # shared layers: params stay 6 while depth grows, so only the deepest is Pareto-optimal
    assert front == [{"n": 3}]
    assert (in_tmp / "NASResults" / "Final_results.txt").exists()


def test_reregistering_an_approach_warns():
    class WithConfig(NASBase):
        def __init__(self, conf):
            super().__init__()
            self.conf = conf

    @nas_registry("temp_approach_for_test")
    class A(WithConfig):
        pass

    with pytest.warns(UserWarning, match="replacing"):

        @nas_registry("Temp_Approach_For_Test")
        class B(WithConfig):
            pass

    assert isinstance(NAS(NASConfig(approach="temp_approach_for_test")), B)


def test_public_api():
    assert set(neural_nas.__all__) >= {"NAS", "NASBase", "BasicNAS", "NASConfig", "nas_registry"}


def test_warnings_reach_stderr_in_plain_python_without_logging_set_up(tmp_path):
    """The docs promise warnings (a key with no effect, a fallback): a script that never configures logging sees
    them, and no progress chatter."""
    import subprocess
    import sys

    script = (
        "from neural_nas import NAS, NASConfig\n"
        "config = NASConfig(approach='basic', search_space={'w': [1, 2]})\n"
        "config.dynas.population = 20\n"
        "NAS(config)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "nas.dynas.population has no effect in Basic NAS" in done.stderr
    assert "INFO" not in done.stderr and done.stdout == ""
