"""Plot data (pure, no figures) and the matplotlib renderers (Agg, PNG files)."""

import subprocess
import sys

import numpy as np
import pytest

from neural_nas.errors import ConfigError
from neural_nas.plotting import (
    HypervolumeTracker,
    Results,
    hypervolume_history,
    load_results,
    pareto_info,
    plot_hypervolume,
    plot_pareto_front,
)
from neural_nas.results.dynast_csv import ResultsCsv
from neural_nas.results.study import Study

ACC_MACS = ["accuracy_top1", "macs"]
# acc (max), macs (min): points 1, 2, 0, 4 are on the front; 3 is dominated by 1 and 2.
POINTS = [
    {"accuracy_top1": 90.0, "macs": 3e8},
    {"accuracy_top1": 80.0, "macs": 1e8},
    {"accuracy_top1": 85.0, "macs": 2e8},
    {"accuracy_top1": 70.0, "macs": 2.5e8},
    {"accuracy_top1": 95.0, "macs": 5e8},
]


def test_pareto_info_front_sorted_along_the_first_metric_with_units():
    info = pareto_info(POINTS, ACC_MACS, [True, False])
    assert info.front == [1, 2, 0, 4]
    assert info.order.tolist() == [0, 1, 2, 3, 4]
    assert info.labels == ["top-1 accuracy (%)", "MACs (M)"]
    assert info.scaled[:, 1].tolist() == [300, 100, 200, 250, 500]
    assert info.values[0].tolist() == [90.0, 3e8]


def test_pareto_info_directions_default_to_the_metrics_own_and_units_adapt():
    giga = [{"macs": 2e9, "params": 5e6, "latency": 3.0}, {"macs": 1e9, "params": 6e6, "latency": 4.0}]
    info = pareto_info(giga, ["macs", "params", "latency"])
    assert info.higher_is_better == [False, False, False]
    assert info.labels == ["MACs (G)", "parameters (M)", "latency (ms)"]
    assert info.front == [1, 0]  # sorted by MACs
    assert pareto_info([{"score": 1.0}, {"score": 2.0}], ["score"]).front == [1]  # unknown name: higher is better
    small = pareto_info([{"params": 3.5}], ["params"])  # not a raw count: not rescaled
    assert small.labels == ["params"] and small.scaled[0, 0] == 3.5


def test_pareto_info_rejects_points_without_a_metric():
    with pytest.raises(ValueError, match="'macs'"):
        pareto_info([{"accuracy_top1": 1.0}], ACC_MACS)


def test_hypervolume_known_value_and_reference_point():
    # minimised: (1,3), (2,2), (3,1) against ref (4,4): 3 + 2 + 1 = 6
    history = hypervolume_history([[1, 3], [2, 2], [3, 1]], [False, False], ref_point=[4, 4])
    assert history.hypervolume.tolist() == [3.0, 5.0, 6.0]
    assert history.front_size.tolist() == [1, 2, 3]
    assert history.n_measured.tolist() == [1, 2, 3]
    # maximised accuracy with a minimised cost: the same geometry after sign adjustment
    history = hypervolume_history([[-1, 3], [-2, 2], [-3, 1]], [True, False], ref_point=[-4, 4])
    assert history.hypervolume[-1] == pytest.approx(6.0)


def test_hypervolume_default_reference_point_is_recorded():
    history = hypervolume_history(POINTS, [True, False], metric_names=ACC_MACS)
    # worst accuracy 70 minus 10 % of its range (25); worst MACs 5e8 plus 10 % of 4e8
    assert history.ref_point.tolist() == pytest.approx([67.5, 5.4e8])
    assert history.hypervolume[0] == pytest.approx((90 - 67.5) * (5.4e8 - 3e8))
    assert history.metric_names == ACC_MACS


def test_hypervolume_is_monotone_and_the_tracker_matches_it():
    rng = np.random.default_rng(0)
    values = rng.random((80, 3))
    directions = [True, False, False]
    history = hypervolume_history(values, directions)
    assert np.all(np.diff(history.hypervolume) >= -1e-12)
    assert history.hypervolume[-1] > 0
    tracker = HypervolumeTracker(directions, history.ref_point)
    assert [tracker.add(v) for v in values] == pytest.approx(history.hypervolume.tolist())
    assert tracker.front_size == history.front_size[-1]


def test_tracker_without_reference_point_follows_the_data():
    tracker = HypervolumeTracker([True])
    assert tracker.hypervolume() == 0.0
    assert tracker.add([5.0]) > 0  # one point: reference below it by a margin
    tracker.add([10.0])
    assert tracker.ref_point.tolist() == pytest.approx([5.0 - 0.5])
    assert tracker.hypervolume() == pytest.approx(10.0 - 4.5)
    with pytest.raises(ValueError, match="2 values"):
        HypervolumeTracker([True, False], ref_point=[1.0])


def test_points_outside_the_reference_point_add_nothing():
    history = hypervolume_history([[5.0, 5.0], [1.0, 1.0]], [False, False], ref_point=[2.0, 2.0])
    assert history.hypervolume.tolist() == [0.0, 1.0]


def write_csv(path, rows):
    csv = ResultsCsv(path)
    for subnet, metrics in rows:
        csv.append(subnet, metrics)
    return path


def test_load_results_from_a_dynas_csv(tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        [
            ({"d": [2, 3]}, {"accuracy_top1": 70.0, "macs": 2e8, "params": 4e6}),
            ({"d": [4, 4]}, {"accuracy_top1": 75.0, "macs": 3e8, "params": 5e6}),
            ({"d": [2, 2]}, {"macs": 1e8, "params": 3e6}),  # accuracy not measured
        ],
    )
    everything = load_results(path)
    assert everything.metric_names == ["macs", "params"]  # the columns measured in every row
    assert len(everything.points) == 3
    chosen = load_results(path, ["acc", "macs"])
    assert chosen.metric_names == ACC_MACS and chosen.higher_is_better == [True, False]
    assert chosen.points == [{"accuracy_top1": 70.0, "macs": 2e8}, {"accuracy_top1": 75.0, "macs": 3e8}]
    assert chosen.archs == [{"d": [2, 3]}, {"d": [4, 4]}]
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_results(tmp_path / "nope.csv")
    assert load_results(path, ["accuracy"]).metric_names == ["accuracy_top1"]  # the reference's name, as in `pick`
    with pytest.raises(ConfigError, match="metrics must be a metric of these results"):
        load_results(path, ["energy"])


class FakeAgent:
    """What load_results reads of an agent: its metrics, their directions and its study."""

    metric_names = ["accuracy", "size"]
    higher_is_better = [True, False]

    def __init__(self):
        self.study = Study(self.metric_names, self.higher_is_better)
        self.study.add_trial({"w": 1, "k": "a"}, {"accuracy": 0.9, "size": 3.0})
        self.study.add_trial({"w": 2, "k": "b"}, {"accuracy": 0.8, "size": 1.0})


def test_load_results_from_an_agent():
    results = load_results(FakeAgent())
    assert results.metric_names == ["accuracy", "size"] and results.higher_is_better == [True, False]
    assert results.archs == [{"w": 1, "k": "a"}, {"w": 2, "k": "b"}]
    assert load_results(FakeAgent(), ["size"]).points == [{"size": 3.0}, {"size": 1.0}]
    with pytest.raises(ConfigError, match="accuracy, size"):
        load_results(FakeAgent(), ["latency"])
    with pytest.raises(TypeError, match="NAS agent"):
        load_results(42)


@pytest.mark.parametrize("metrics", [["accuracy_top1"], ACC_MACS, ["accuracy_top1", "macs", "params"]])
def test_plot_pareto_front_writes_a_png(tmp_path, plt, metrics):
    rng = np.random.default_rng(1)
    points = [
        {"accuracy_top1": 60 + 30 * a, "macs": 1e8 + 4e8 * m, "params": 2e6 + 5e6 * p}
        for a, m, p in rng.random((25, 3))
    ]
    results = Results(points, [None] * 25, ["accuracy_top1", "macs", "params"], [True, False, False])
    path = tmp_path / "plots" / "front.png"
    fig = plot_pareto_front(results, metrics=metrics, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert len(axes) == {1: 1, 2: 1, 3: 3}[len(metrics)]
    if len(metrics) == 2:
        assert axes[0].get_xlabel() == "MACs (M)" and axes[0].get_ylabel() == "top-1 accuracy (%)"


def test_plot_hypervolume_writes_a_png_from_a_csv(tmp_path, plt):
    import matplotlib.image

    points = [{"accuracy_top1": 50.0 + i, "macs": 1e8 * (1 + (i * 7) % 5)} for i in range(12)]
    path = write_csv(tmp_path / "r.csv", [({"d": [i]}, p) for i, p in enumerate(points)])
    fig = plot_hypervolume(str(path), metrics=["acc", "macs"], path=tmp_path / "hv.png")
    assert "reference point" in fig.axes[0].get_title()
    (line,) = fig.axes[0].get_lines()  # the hypervolume after each measurement, in the CSV's order
    assert line.get_xdata().tolist() == list(range(1, 13))
    assert line.get_ydata().tolist() == pytest.approx(hypervolume_history(points, [True, False]).hypervolume.tolist())
    image = matplotlib.image.imread(tmp_path / "hv.png")  # a 6 x 4 inch figure at 120 dpi, cropped to its content
    assert 0.75 < image.shape[1] / 720 < 1.25 and 0.75 < image.shape[0] / 480 < 1.25
    assert image[..., :3].std() > 0.05  # not blank


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"neural-nas\[plot\]"):
        plot_pareto_front(Results(POINTS, [None] * 5, ACC_MACS, [True, False]))


def test_importing_the_package_loads_neither_torch_nor_matplotlib():
    code = (
        "import sys, neural_nas, neural_nas.plotting, neural_nas.cli; "
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_acc_means_the_quality_metric_of_the_results_after_the_search_too(tmp_path, capsys):
    """In a BERT search `acc` is SST-2 accuracy; reading its CSV afterwards (no config beside it) means the same."""
    from neural_nas.cli import main
    from neural_nas.results.selection import pick

    path = tmp_path / "bert.csv"
    rows = ["Sub-network,Date,Model Parameters,Latency (ms),MACs,SST-2 Acc"]
    rows += [f"\"{{'d': [{i}]}}\",t,0,0,{m},{a}" for i, (m, a) in enumerate([(2e9, 0.91), (1e9, 0.88), (3e9, 0.90)])]
    path.write_text("\n".join(rows) + "\n")
    results = load_results(path, ["acc", "macs"])
    assert results.metric_names == ["accuracy_sst2", "macs"] and len(results.points) == 3
    assert pick(results, by="max:acc").number == 1
    assert main(["front", str(path), "--metrics", "acc,macs"]) == 0
    assert "Pareto front: 2 of 3" in capsys.readouterr().out
