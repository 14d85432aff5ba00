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
