import json
import subprocess
import sys
from pathlib import Path

import pytest

from neural_nas._registry import Registry
from neural_nas.errors import ConfigError


def test_decorator_case_insensitive_and_aliases():
    reg = Registry("thing", "x.thing")

    @reg("Alpha", aliases=("a",))
    class Alpha:
        pass

    assert reg.get("ALPHA") is Alpha
    assert reg.get("a") is Alpha
    assert reg.canonical("A") == "alpha"
    assert "alpha" in reg and "A" in reg and "beta" not in reg
    assert reg.names() == ["alpha"]
    assert reg.names("b*") == []


def test_unknown_name_lists_registered_and_suggests():
    reg = Registry("approach", "nas.approach")
    reg.register("basic", object())
    reg.register("dynas", object())
    with pytest.raises(ConfigError) as info:
        reg.get("dynsa")
    msg = str(info.value)
    assert "nas.approach" in msg and "'dynsa'" in msg and "basic, dynas" in msg and "did you mean 'dynas'" in msg


def test_reregistering_warns_and_replaces():
    reg = Registry("thing", "x")
    reg.register("a", 1)
    with pytest.warns(UserWarning, match="already registered"):
        reg.register("A", 2)
    assert reg.get("a") == 2


def test_scoped_undoes_registrations_and_replacements():
    reg = Registry("thing", "x")
    reg.register("kept", 1, aliases=("k",))
    with reg.scoped():
        reg.register("new", 2, aliases=("n",))
        with pytest.warns(UserWarning, match="already registered"):
            reg.register("kept", 3)
        assert reg.get("n") == 2 and reg.get("kept") == 3
    assert reg.names() == ["kept"] and reg.get("k") == 1 and "n" not in reg


# -- the suite's registry scope (tests/conftest.py) ----------------------------------------------------------------
PROBE = "isolation_probe_for_tests"


def test_a_test_may_register_in_every_registry(scoped_registries):
    for registry in scoped_registries:
        assert PROBE not in registry
        registry.register(PROBE, object())
        assert PROBE in registry


def test_what_the_previous_test_registered_is_gone(scoped_registries):
    """Runs after the one above (pytest keeps file order): its registrations did not outlive it."""
    assert not [registry.kind for registry in scoped_registries if PROBE in registry]


# Every registry of the library with what a fresh process holds after importing every module (and the shared
# super-network of tests/synthetic_supernet.py, which registers at import).
FRESH = r"""
import importlib, json, pkgutil, sys
import neural_nas

Registry = type(neural_nas.nas_registry)  # every registry is one (MetricRegistry a subclass)

sys.path.insert(0, sys.argv[1])
import tests.synthetic_supernet  # noqa: F401

for info in pkgutil.walk_packages(neural_nas.__path__, "neural_nas."):
    if not info.name.endswith("__main__"):
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional dependency
            pass
registries = {}
for module in list(sys.modules.values()):
    if getattr(module, "__name__", "").startswith("neural_nas"):
        for value in vars(module).values():
            if isinstance(value, Registry):
                registries[f"{value.kind} ({value.key})"] = value.names()
print(json.dumps(registries))
"""


def test_no_test_file_registers_anything_outside_a_test(scoped_registries):
    """Test modules are all imported before the first test runs: whatever one registers at import (or whatever
    outlived a test's scope) would show up here, next to exactly the built-ins a fresh process has. This also checks
    that conftest scopes every registry of the library."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", FRESH, str(root)], capture_output=True, text=True, check=True)
    fresh = json.loads(done.stdout.strip().splitlines()[-1])
    here = {f"{registry.kind} ({registry.key})": registry.names() for registry in scoped_registries}
    assert set(here) == set(fresh), "tests/conftest.py must scope every registry"
    for name, names in here.items():
        assert names == fresh[name], f"{name}: outside a test, {sorted(set(names) ^ set(fresh[name]))}"
