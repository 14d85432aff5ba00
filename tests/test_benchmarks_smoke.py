"""Tiny runs of the benchmarks, so they do not rot: each computes what it reports (no timing limit is asserted: the
machine may be busy; times are only checked against each other, as the parts and the whole of one measurement)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

PHASES = ("fit accuracy_top1", "fit macs", "inner search")  # one loop's overhead: its total is their sum


@pytest.fixture
def surrogate(register_supernet):
    """The benchmarks' surrogate super-network, registered for this test only (`_surrogate` registers it when first
    imported, which may have happened in an earlier test's registry scope)."""
    import _surrogate

    from neural_nas.supernets import supernet_registry

    if _surrogate.SURROGATE not in supernet_registry:
        register_supernet(_surrogate.SurrogateMobileNetV3)
    return _surrogate


def check_loop_times(times, population):
    assert times["total"] == pytest.approx(sum(times[phase] for phase in PHASES))
    assert all(times[phase] >= 0 for phase in PHASES)
    assert times["chosen"] == population  # it picked a full population of unmeasured sub-networks


def test_hypervolume_2d_by_hand(surrogate):
    # (top-1 max, MACs min), reference (70, 600): boxes 10x100 and 5x400 overlapping by 5x100 = 2500; the third
    # point is dominated, the fourth is worse than the reference.
    points = np.array([[80.0, 500.0], [75.0, 200.0], [72.0, 550.0], [60.0, 100.0]])
    assert surrogate.hypervolume_2d(points, (70.0, 600.0)) == pytest.approx(2500.0)
    curve = surrogate.hypervolume_curve(points, (70.0, 600.0))
    assert curve.tolist() == pytest.approx([1000.0, 2500.0, 2500.0, 2500.0])
    assert surrogate.hypervolume_2d(np.array([[60.0, 100.0]]), (70.0, 600.0)) == 0.0


def test_sample_efficiency_smoke(tmp_path, monkeypatch, surrogate, plt):
    import matplotlib.image
    import sample_efficiency

    monkeypatch.chdir(tmp_path)
    plot = tmp_path / "se.png"
    summary = sample_efficiency.main(
        ["--seeds", "1", "--ns", "10", "--population", "10", "--inner-evals", "300", "--plot", str(plot)]
    )
    assert summary["reference"] == surrogate.REFERENCE_POINTS[surrogate.SURROGATE]
    # the plot: a 7 x 4.5 inch figure at 120 dpi, not blank
    image = matplotlib.image.imread(plot)
    assert image.shape == (540, 840, 4) and image[..., :3].std() > 0.05
    (ax,) = plt.gcf().axes
    assert ax.get_xlabel() == "sub-networks measured" and ax.get_ylabel().startswith("hypervolume")
    curves = {line.get_label().split()[0]: line for line in ax.get_lines()}
    assert set(curves) == set(sample_efficiency.TACTICS) == set(summary["needed"][("random", 10)])
    # each tactic's hypervolume after 1..40 measurements (budget 4N), never falling as measurements are added
    for line in curves.values():
        assert line.get_xdata().tolist() == list(range(1, 41))
        assert np.all(np.diff(line.get_ydata()) >= -1e-9)
    # the tables: measurements each tactic needs to reach random search's hypervolume at 4N (one seed: its curve's
    # end) and the evolutionary baseline's at 2N
    for baseline, at in (("random", 40), ("evolutionary", 20)):
        target = curves[baseline].get_ydata()[at - 1]
        for tactic, needed in summary["needed"][(baseline, 10)].items():
            reached = np.nonzero(curves[tactic].get_ydata() >= target - 1e-9)[0]
            assert needed == (reached[0] + 1 if len(reached) else float("inf")), (baseline, tactic)
    assert summary["needed"][("random", 10)]["random"] <= 40
    assert summary["needed"][("evolutionary", 10)]["evolutionary"] <= 20


def test_search_overhead_smoke(surrogate):
    import search_overhead

    results = search_overhead.main(
        ["--rows", "30", "--inner-evals", "200", "--repeats", "1", "--population", "10", "--small-seeds", "1"]
        + ["--small-reference-seeds", "0", "--small-budget", "30", "--hv-seeds", "1", "--hv-budget", "20"]
    )
    ofa = results["ofa"][30]
    kinds = ("ours", "ours, tuning reused", "reference", "reference, 1 BLAS thread")
    for kind in kinds:
        check_loop_times(ofa[kind]["times"], population=10)
    assert ofa["speedup"] == pytest.approx(ofa["reference"]["times"]["total"] / ofa["ours"]["times"]["total"])
    tune, reuse = ofa["ours"]["times"]["total"], ofa["ours, tuning reused"]["times"]["total"]
    assert min(tune, reuse) <= ofa["mean per loop"] <= max(tune, reuse)  # a mix of loops that tune and that do not
    assert ofa["ours"]["quality"]["macs"] == pytest.approx({"kendall_tau": 1.0, "mape": 0.0})  # exact tables
    # the reference fitted with one BLAS thread is the same model: only its time may differ
    for metric, quality in ofa["reference"]["quality"].items():
        assert ofa["reference, 1 BLAS thread"]["quality"][metric] == pytest.approx(quality)
    for kind in kinds:
        assert 0.5 < ofa[kind]["quality"]["accuracy_top1"]["kendall_tau"] <= 1.0  # ranks far better than chance
    # the 59,049-network space: whole searches, overhead a part of the wall time, a front found
    for kind in ("ours", "ours, tuned every loop"):
        small = results["small"][kind]
        assert 0 < small["overhead per loop"] * 2 <= small["wall"] and small["hypervolume"] > 0  # 2 loops of 10
    # hypervolume per measurement of the loop now and before: curves over the 20 measurements, never falling
    for tactic in ("linas", "linas-before"):
        curve = results["hv"][tactic]["curve"]
        assert len(curve) == 20 and curve[-1] > 0 and np.all(np.diff(curve) >= -1e-9)


def test_scaling_smoke():
    import scaling

    out = scaling.main(["--populations", "10", "--rows", "30", "--fixed-rows", "30", "--inner-evals", "200"])
    assert list(out["population"]) == [10] and list(out["rows"]) == [30]
    check_loop_times(out["population"][10], population=10)
    check_loop_times(out["rows"][30], population=50)  # the rows sweep runs at population 50
    assert 0.5 < out["rows"][30]["tau"] <= 1.0


def torch_import_rss_mb() -> float:
    """Max RSS (MB) of a fresh Python that imports torch and nothing else."""
    code = "import resource, torch; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def test_measurement_speed_smoke():
    import measurement_speed

    out = measurement_speed.main(["--small"])
    counting, accuracy = out["counting"], out["accuracy"]
    assert counting["mismatches"] == 0  # tables agree with fvcore's conv + linear count
    assert counting["extract_s"] <= counting["fvcore_s"]  # extraction is part of the fvcore path's time
    # --small: 10 classes of 2 train + 1 val images, calibration on (at most) 20 of them
    assert accuracy["n_calib"] == 20 and accuracy["n_val"] == 10
    assert accuracy["recalibrate_s"] + accuracy["validate_s"] <= accuracy["ours_s"]  # its phases, inside its time
    # peak memory: one run per configured eval_batch_size; a high-water mark in MB, at least what importing torch
    # takes, and less than this machine has (a unit slip, KB or bytes for MB, lands outside)
    assert list(out["memory"]) == [64]
    memory = out["memory"][64]
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    assert 0.8 * torch_import_rss_mb() <= memory["imports_rss_mb"] <= memory["max_rss_mb"] < total_mb


def test_measurement_noise_smoke():
    import measurement_noise
    from scipy.stats import kendalltau, pearsonr

    from neural_nas.supernets import create_supernet
    from neural_nas.supernets.ofa_digits import TEST_DRAWS

    out = measurement_noise.main(["--subnets", "4", "--draws", "2"])
    accuracy = out["accuracy"]
    assert accuracy.shape == (4, 2)  # sub-networks x test draws
    # each value is a top-1 over TEST_DRAWS distortions of the 540 held-out digits: a whole number of images
    images = 540 * TEST_DRAWS / 100
    assert np.allclose(accuracy * images, np.round(accuracy * images)) and np.all((0 <= accuracy) & (accuracy <= 100))
    # the first draw is the shipped one: what the super-network itself measures for the same first sub-network
    supernet = create_supernet("ofa_mbv3_digits")
    supernet.load(pretrained=True)
    first = supernet.encoding.vector_to_dict(supernet.encoding.random_vectors(4, 0)[0])
    assert supernet.measure(first, ["accuracy_top1"])["accuracy_top1"] == pytest.approx(accuracy[0, 0])
    assert not np.array_equal(accuracy[:, 0], accuracy[:, 1])  # the second draw is really another one
    # the reported agreement is that of the two columns
    assert out["pearson"] == pytest.approx([pearsonr(accuracy[:, 0], accuracy[:, 1])[0]])
    assert out["kendall"] == pytest.approx([kendalltau(accuracy[:, 0], accuracy[:, 1])[0]])
    # the stricter check: one correlation per draw, between the two halves of the digits
    assert len(out["pearson_halves"]) == 2 and all(-1 <= r <= 1 for r in out["pearson_halves"])


def test_predictor_settings_smoke(capsys):
    import predictor_settings

    results = predictor_settings.main(
        ["--rows", "40", "--sweep", "svr_tol=0.03,0.1", "--sweep", "tune_rows=20", "--splits", "1"]
    )
    assert set(results) == {("svr_tol", 0.03, 40), ("svr_tol", 0.1, 40), ("tune_rows", 20, 40)}
    assert all(0.3 < r["tau"] <= 1 and r["seconds"] > 0 for r in results.values())  # 40 rows already rank well
    assert "svr_tol=0.03" in capsys.readouterr().out
