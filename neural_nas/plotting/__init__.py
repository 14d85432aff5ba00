"""Plots of search results: the measured Pareto front and the hypervolume history.

The data (`pareto_info`, `hypervolume_history`, `load_results`) needs no matplotlib; the renderers
(`plot_pareto_front`, `plot_hypervolume`) import it on first use (``pip install 'neural-nas[plot]'``).
"""

from neural_nas.pareto import HypervolumeTracker, default_ref_point
from neural_nas.plotting._info import (
    HypervolumeHistory,
    ParetoInfo,
    Results,
    hypervolume_history,
    load_measured,
    load_results,
    pareto_info,
)
from neural_nas.plotting.matplotlib import plot_hypervolume, plot_pareto_front

__all__ = [
    "HypervolumeHistory",
    "HypervolumeTracker",
    "ParetoInfo",
    "Results",
    "default_ref_point",
    "hypervolume_history",
    "load_measured",
    "load_results",
    "pareto_info",
    "plot_hypervolume",
    "plot_pareto_front",
]
