"""Tiny runs of the search benchmarks, so they do not rot (no timing is asserted: the machine may be busy)."""

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))


def test_hypervolume_2d_by_hand():
    from _surrogate import hypervolume_2d, hypervolume_curve

    # (top-1 max, MACs min), reference (70, 600): boxes 10x100 and 5x400 overlapping by 5x100 = 2500; the third
    # point is dominated, the fourth is worse than the reference.
    points = np.array([[80.0, 500.0], [75.0, 200.0], [72.0, 550.0], [60.0, 100.0]])
    assert hypervolume_2d(points, (70.0, 600.0)) == pytest.approx(2500.0)
    curve = hypervolume_curve(points, (70.0, 600.0))
    assert curve.tolist() == pytest.approx([1000.0, 2500.0, 2500.0, 2500.0])
    assert hypervolume_2d(np.array([[60.0, 100.0]]), (70.0, 600.0)) == 0.0


def test_sample_efficiency_smoke(tmp_path, monkeypatch):
    import sample_efficiency

    monkeypatch.chdir(tmp_path)
    plot = tmp_path / "se.png"
    summary = sample_efficiency.main(
        ["--seeds", "1", "--ns", "10", "--population", "10", "--inner-evals", "300", "--plot", str(plot)]
    )
    assert set(summary["needed"][10]) == {"linas", "evolutionary", "random"}
    assert plot.stat().st_size > 0


def test_search_overhead_smoke():
    import search_overhead

    results = search_overhead.main(["--rows", "30", "--inner-evals", "200", "--repeats", "1", "--population", "10"])
    assert results["ours"]["quality"]["macs"]["kendall_tau"] == pytest.approx(1.0)  # exact tables
    assert results["ours"]["times"]["chosen"] == 10 and results["speedup"] > 0


def test_scaling_smoke():
    import scaling

    out = scaling.main(["--populations", "10", "--rows", "30", "--fixed-rows", "30", "--inner-evals", "200"])
    assert set(out["population"]) == {10} and set(out["rows"]) == {30}


def test_measurement_speed_smoke():
    import measurement_speed

    out = measurement_speed.main(["--small"])
    assert out["counting"]["mismatches"] == 0  # tables agree with fvcore's conv + linear count
    assert out["accuracy"]["ours_s"] > 0 and out["memory"][64]["max_rss_mb"] > 0


def test_measurement_noise_smoke():
    import measurement_noise

    out = measurement_noise.main(["--subnets", "4", "--draws", "2"])
    assert out["accuracy"].shape == (4, 2) and len(out["pearson"]) == 1
