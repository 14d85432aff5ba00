"""The MobileNetV3 Dynamic NAS notebook runs end to end (reduced sizes) on the embedded super-network."""

import csv
from pathlib import Path

import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook" / "dynas" / "MobileNetV3_Supernet_NAS.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    source = "\n".join(c.source for c in code)
    for needed in ("IMAGENET_PATH", "ofa_mbv3_digits", "nsga2", "neural_nas.plotting", "read_csv"):
        assert needed in source, needed


def test_notebook_runs_reduced(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGENET_PATH", raising=False)
    monkeypatch.setenv("NAS_POPULATION", "10")
    monkeypatch.setenv("NAS_NUM_EVALS", "11")  # one predictor-guided loop after the first population
    monkeypatch.setenv("NAS_INNER_EVALS", "300")
    monkeypatch.setenv("NAS_RESULTS_CSV", "results.csv")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()  # a failing cell raises CellExecutionError with its traceback
    with open(tmp_path / "results.csv", newline="") as f:
        assert len(list(csv.reader(f))) == 1 + 11
    assert (tmp_path / "pareto_front.png").stat().st_size > 1000
    assert (tmp_path / "hypervolume.png").stat().st_size > 1000
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
