"""What a finished search shows: its measured Pareto front as a text table, and as PNG plots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger("neural_nas")

PARETO_PNG = "pareto_front.png"
HYPERVOLUME_PNG = "hypervolume.png"


def format_number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def format_front(results: Any, rows_kept: list[int] | None = None) -> str:
    """A text table of the measured Pareto front of a `Results`, sorted by the first metric; with ``rows_kept``, the
    front of those rows (their ``#`` stays their place among all measured)."""
    from neural_nas.plotting import pareto_info

    if not results.points:
        return "no measured point has all of the metrics " + ", ".join(results.metric_names)
    kept = list(range(len(results.points))) if rows_kept is None else rows_kept
    info = pareto_info([results.points[i] for i in kept], results.metric_names, results.higher_is_better)
    header = ["#", *info.labels, "sub-network"]
    rows = [
        [str(kept[i] + 1), *(format_number(v) for v in info.scaled[i]), repr(results.archs[kept[i]])]
        for i in info.front
    ]
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths)) + "  " + cells[-1]

    among = f"{len(info.values)} measured" if rows_kept is None else f"{len(kept)} of {len(results.points)} measured"
    title = f"Pareto front: {len(info.front)} of {among} ('#': order of measurement)"
    return "\n".join([title, line(header), *(line(r) for r in rows)])


def write_plots(results: Any, folder: Path) -> list[Path]:
    """The Pareto-front and hypervolume PNGs in ``folder``; none (with a warning) when matplotlib is missing."""
    try:
        from neural_nas.plotting.matplotlib import _pyplot

        plt = _pyplot()
    except ImportError as err:
        logger.warning("no plots: %s", err)
        return []
    from neural_nas.plotting import plot_hypervolume, plot_pareto_front

    written = []
    for plot, name in [(plot_pareto_front, PARETO_PNG), (plot_hypervolume, HYPERVOLUME_PNG)]:
        fig = plot(results, path=Path(folder) / name)
        plt.close(fig)
        written.append(Path(folder) / name)
    return written
