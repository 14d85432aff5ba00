"""The MobileNetV3 Dynamic NAS notebook runs end to end (reduced sizes) on the embedded super-network."""

import csv
import re
from pathlib import Path

import nbclient
import nbformat
import numpy as np

from neural_nas.supernets import create_supernet

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook" / "dynas" / "MobileNetV3_Supernet_NAS.ipynb"
NUM_EVALS = 11


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def text_of(outputs):
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")


def table_rows(html):
    """The body rows of a DataFrame's HTML: a list of their cells' texts."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td>(.*?)</td>", row, re.S) for row in body.split("</tr>") if "<td>" in row]


def test_notebook_runs_reduced(tmp_path, monkeypatch):
    import matplotlib.image

    monkeypatch.delenv("IMAGENET_PATH", raising=False)
    monkeypatch.setenv("NAS_POPULATION", "10")
    monkeypatch.setenv("NAS_NUM_EVALS", str(NUM_EVALS))  # one predictor-guided loop after the first population
    monkeypatch.setenv("NAS_INNER_EVALS", "300")
    monkeypatch.setenv("NAS_RESULTS_CSV", "results.csv")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}})
    client.execute()  # a failing cell raises CellExecutionError with its traceback
    cells = [c for c in nb.cells if c.cell_type == "code"]

    # Without IMAGENET_PATH the search ran on the embedded super-network: every row is one of its sub-networks, with
    # the MACs and parameters its tables give, and a top-1 over its distorted held-out digits (latency not measured: 0)
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == NUM_EVALS
    supernet = create_supernet("ofa_mbv3_digits")
    subnets = [supernet.parse_record(row["Sub-network"]) for row in rows]  # a ConfigError for a foreign record
    assert len({repr(s) for s in subnets}) == NUM_EVALS  # nothing measured twice
    exact = supernet.exact_metrics(np.stack([supernet.encoding.dict_to_vector(s) for s in subnets]))
    assert [float(r["MACs"]) for r in rows] == exact["macs"].tolist()
    assert [float(r["Model Parameters"]) for r in rows] == exact["params"].tolist()
    accuracy = np.array([float(r["Top-1 Acc (%)"]) for r in rows])
    images = len(supernet.data()[2]) / 100  # a whole number of test images right
    assert np.allclose(accuracy * images, np.round(accuracy * images)) and all(0 <= a <= 100 for a in accuracy)
    assert all(r["Latency (ms)"] == "0" for r in rows)

    # The front the notebook prints and tabulates is the Pareto front of those rows (top-1 up, MACs down)
    points = [(a, float(r["MACs"])) for a, r in zip(accuracy, rows)]
    front = [p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)]
    printed = "".join(text_of(c.outputs) for c in cells)
    assert f"{NUM_EVALS} sub-networks measured" in printed and f"measured Pareto front: {len(front)}" in printed
    html = [o["data"]["text/html"] for c in cells for o in c.outputs if "text/html" in o.get("data", {})]
    table = table_rows(html[-1])  # the front table; columns: top-1 (%), MACs (M), sub-network
    tabulated = sorted((round(float(acc), 4), round(float(macs), 4)) for acc, macs, _ in table)
    assert tabulated == sorted((round(acc, 4), round(macs / 1e6, 4)) for acc, macs in front)

    # Both plots: real PNG images, about the figure's size at 120 dpi (cropped to what is drawn), not blank; and
    # shown inline as well
    for name, (width, height) in {"pareto_front.png": (5.5, 4.2), "hypervolume.png": (6, 4)}.items():
        image = matplotlib.image.imread(tmp_path / name)
        assert image.ndim == 3 and image.shape[2] in (3, 4), name
        assert 0.75 < image.shape[1] / (width * 120) < 1.25 and 0.75 < image.shape[0] / (height * 120) < 1.25, name
        assert image[..., :3].std() > 0.05, name  # lines, markers and labels on a white background
    shown = [o for c in cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(shown) == 2

    # The notebook ends by exporting the knee of the front; the saved model, loaded back, scores what was measured
    said = re.search(r"top-1 measured in the search: ([\d.]+) %; exported model: ([\d.]+) %", printed)
    assert said and said.group(1) == said.group(2)
    for name in ("subnet.pt", "subnet.pt2", "subnet.json"):
        assert (tmp_path / "exported" / name).is_file(), name
