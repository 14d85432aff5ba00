"""Export a measured row of a search: pick it from the results CSV, extract it, save it (`neural_nas.export.files`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neural_nas.config import NASConfig
from neural_nas.errors import ConfigError
from neural_nas.export.files import deployed_subnet, save_subnet, standalone_subnet
from neural_nas.export.formats import DEFAULT_FORMATS, resolve


def export_pick(
    results_csv: str | os.PathLike,
    config: NASConfig | None,
    out: str | os.PathLike,
    *,
    by: str = "knee",
    where: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
    formats: str | Sequence[str] = DEFAULT_FORMATS,
) -> tuple[Any, dict[str, Path]]:
    """Pick a measured row of ``results_csv`` (the ``where`` constraints, then ``by``: ``knee``, ``max:METRIC``,
    ``min:METRIC`` or ``#N``) and save that sub-network of ``config``'s super-network into ``out`` (`save_subnet`).
    ``config`` None: the configuration the search recorded beside the CSV (`config_record.record_of`). ``metrics``:
    the objectives (default: those the search recorded). ``formats``: those of `save_subnet`. Returns the `Choice`
    and the files written. A file of another super-network, or a format whose extra is missing, is refused before
    anything is built."""
    from neural_nas.config import load_yaml
    from neural_nas.plotting import load_measured
    from neural_nas.results.config_record import record_of
    from neural_nas.results.selection import pick
    from neural_nas.supernets import create_supernet

    if config is None:
        record = record_of(Path(results_csv))
        if record is None:
            raise ConfigError(
                "config",
                None,
                "the search's configuration (super-network, weights, data set)",
                f"no record of the search is beside {results_csv} (config.yaml): give one (--config)",
            )
        config = load_yaml(record)
    if config.dynas.supernet is None:
        raise ConfigError(
            "nas.dynas.supernet", None, "a registered super-network name", "a Dynamic NAS config is needed to export"
        )
    supernet = create_supernet(config.dynas.supernet, config.dynas)
    results = load_measured(results_csv, list(metrics) if metrics else None, supernet)  # as front and plot check
    choice = pick(results, where, by)
    resolve(formats)  # an unknown or uninstalled format fails before the sub-network is extracted
    module = standalone_subnet(config, choice.arch, supernet=supernet)
    deployed = deployed_subnet(config, module, choice.arch, supernet=supernet)
    files = save_subnet(
        module,
        supernet,
        choice.arch,
        out,
        metrics=choice.metrics,
        reason=choice.reason,
        formats=formats,
        deployed=deployed,
    )
    return choice, files


def export_hint(results: Any, results_csv: str | os.PathLike, record: str | os.PathLike) -> str:
    """The command that exports a row of a finished search, with a ``--where`` example sized to it (the median of
    its MACs, or of its last metric: about half of the rows) and ``--pick`` examples of its own metrics."""
    import numpy as np

    names = results.metric_names
    picks = ["knee", *(f"{'max' if h else 'min'}:{n}" for n, h in zip(names, results.higher_is_better))]
    where = ""
    if results.points:
        name = "macs" if "macs" in names else names[-1]
        median = float(np.median([point[name] for point in results.points]))
        where = f"; --where '{name}{'>=' if results.higher_is_better[names.index(name)] else '<='}{median:.2g}'"
    return (
        f"export a row: neural-nas export {results_csv} --config {record} --pick '#N' --out DIR   "
        f"(or --pick {', '.join(picks)}{where})"
    )
