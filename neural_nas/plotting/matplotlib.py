"""Renderers of the plotting NamedTuples (`plotting._info`); matplotlib is imported on first use.

Each function takes results in any form `as_results` accepts (a results CSV path, an agent that has searched, a
`Results` tuple), returns the matplotlib Figure, and writes a PNG when ``path`` is given.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neural_nas.plotting._info import ParetoInfo, Results, hypervolume_history, load_results, pareto_info

_INSTALL_HINT = "plotting needs matplotlib: pip install 'neural-nas[plot]'"


def _pyplot() -> Any:
    """matplotlib.pyplot; the Agg backend when nothing else is chosen and there is no display."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def as_results(
    results: Any, metrics: Sequence[str] | None = None, higher_is_better: Sequence[bool] | None = None
) -> Results:
    """A `Results` from a CSV path, an agent or a `Results`; ``metrics`` / ``higher_is_better`` select and override."""
    if not isinstance(results, Results):
        results = load_results(results, metrics)
    elif metrics is not None:
        keep = [results.metric_names.index(m) for m in metrics]
        results = Results(
            [{m: p[m] for m in metrics} for p in results.points],
            results.archs,
            list(metrics),
            [results.higher_is_better[j] for j in keep],
        )
    if higher_is_better is not None:
        results = results._replace(higher_is_better=list(higher_is_better))
    return results


def _save(fig: Any, path: str | os.PathLike | None) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")


def _scatter_pair(ax: Any, info: ParetoInfo, x: int, y: int, join: bool) -> Any:
    """Points coloured by evaluation order, the front circled (and joined when ``join``)."""
    pts = ax.scatter(info.scaled[:, x], info.scaled[:, y], c=info.order + 1, cmap="viridis", s=18, alpha=0.8)
    front = np.array(info.front, dtype=int)
    if len(front):
        if join:
            line = front[np.argsort(info.scaled[front, x], kind="stable")]
            ax.plot(info.scaled[line, x], info.scaled[line, y], color="tab:red", lw=1.2, zorder=2)
        ax.scatter(
            info.scaled[front, x],
            info.scaled[front, y],
            s=60,
            facecolors="none",
            edgecolors="tab:red",
            linewidths=1.5,
            zorder=3,
            label=f"Pareto front ({len(front)})",
        )
    ax.set_xlabel(info.labels[x])
    ax.set_ylabel(info.labels[y])
    ax.grid(alpha=0.3)
    return pts


def _plot_one_metric(ax: Any, info: ParetoInfo) -> Any:
    """Metric against evaluation order, with the best value so far."""
    y = info.scaled[:, 0]
    pts = ax.scatter(info.order + 1, y, c=info.order + 1, cmap="viridis", s=18, alpha=0.8)
    best = np.maximum.accumulate(y) if info.higher_is_better[0] else np.minimum.accumulate(y)
    ax.step(info.order + 1, best, where="post", color="tab:red", lw=1.2, label="best so far")
    ax.set_xlabel("measurement")
    ax.set_ylabel(info.labels[0])
    ax.grid(alpha=0.3)
    return pts


def plot_pareto_front(
    results: Any,
    *,
    metrics: Sequence[str] | None = None,
    higher_is_better: Sequence[bool] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Any:
    """The measured points coloured by evaluation order, with the measured Pareto front highlighted.

    Two metrics: the first on the y axis, the second on the x axis, the front joined. One metric: the metric against
    evaluation order with the best value so far. Three or more: one panel per pair of metrics (front circled).
    """
    plt = _pyplot()
    res = as_results(results, metrics, higher_is_better)
    if not res.points:
        raise ValueError("nothing to plot: no measured point has all of the metrics " + ", ".join(res.metric_names))
    info = pareto_info(res.points, res.metric_names, res.higher_is_better)
    m = len(info.metric_names)
    pairs = [(1, 0)] if m == 2 else list(itertools.combinations(range(m), 2))
    ncols = 1 if m <= 2 else min(len(pairs), 3)
    nrows = 1 if m <= 2 else -(-len(pairs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 4.2 * nrows), squeeze=False)
    flat = list(axes.ravel())
    if m == 1:
        pts = _plot_one_metric(flat[0], info)
    else:
        for ax, (x, y) in zip(flat, pairs):
            pts = _scatter_pair(ax, info, x, y, join=m == 2)
        for ax in flat[len(pairs) :]:
            ax.set_visible(False)
    flat[0].legend(loc="best", fontsize="small")
    fig.colorbar(pts, ax=flat[: max(len(pairs), 1)], label="measurement # (evaluation order)")
    fig.suptitle(title or f"{len(info.values)} measured, {len(info.front)} on the Pareto front")
    _save(fig, path)
    return fig


def plot_hypervolume(
    results: Any,
    *,
    metrics: Sequence[str] | None = None,
    higher_is_better: Sequence[bool] | None = None,
    ref_point: Sequence[float] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Any:
    """The hypervolume of the measured front against the number of measurements (reference point in the title)."""
    plt = _pyplot()
    res = as_results(results, metrics, higher_is_better)
    if not res.points:
        raise ValueError("nothing to plot: no measured point has all of the metrics " + ", ".join(res.metric_names))
    history = hypervolume_history(res.points, res.higher_is_better, ref_point, res.metric_names)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step(history.n_measured, history.hypervolume, where="post", color="tab:blue", lw=1.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("measurements")
    ax.set_ylabel("hypervolume")
    ax.grid(alpha=0.3)
    ref = ", ".join(f"{n}={v:.4g}" for n, v in zip(history.metric_names, history.ref_point))
    ax.set_title(title or f"hypervolume of the measured front\n(reference point: {ref})", fontsize="medium")
    fig.tight_layout()
    _save(fig, path)
    return fig
