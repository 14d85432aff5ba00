import importlib.util
import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_basic_nas_digits_at_reduced_size(tmp_path):
    example = load("basic_nas_digits")
    space_size = 1
    for choices in example.SEARCH_SPACE.values():
        space_size *= len(choices)
    assert space_size >= 12
    agent, front = example.run(max_trials=3, epochs=2, algorithm="random", out=str(tmp_path))
    results = agent.search_results
    assert len(results) == 3 and 1 <= len(front) <= 3
    for metrics in results.values():
        assert 0.3 < metrics["accuracy"] <= 1.0  # clearly above chance (0.1) after two epochs
        assert metrics["params"] > 0
    log = (tmp_path / "NASResults" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["arch"] for line in log] == [
        dict(zip(("channels", "depth", "width"), key)) for key in results
    ]
