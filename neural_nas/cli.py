"""The ``neural-nas`` command (also ``python -m neural_nas``): a thin layer over the Python API.

    neural-nas search [CONFIG.yaml] [--set dynas.population=20 ...] [--output-dir DIR]
    neural-nas check-config CONFIG.yaml [--set ...]
    neural-nas list
    neural-nas plot RESULTS.csv [--metrics acc,macs]
    neural-nas front RESULTS.csv [--where "macs<=3e8" ...] [--plot]
    neural-nas export RESULTS.csv --config CONFIG.yaml [--where ...] [--pick knee|max:acc|#N] --out DIR

Exit status: 0 done; 2 bad usage or configuration (a ConfigError, a missing config file: the message only, no
traceback); 1 any other failure; 130 interrupted (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import importlib.util
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from neural_nas.errors import ConfigError, ResultsFileError

logger = logging.getLogger("neural_nas")

# `neural-nas search` with no config: Dynamic NAS on the embedded super-network (its run time: benchmarks/RESULTS.md).
DEFAULT_SUPERNET = "ofa_mbv3_digits"
DEFAULT_OUTPUT_DIR = "neural_nas_results"
DEFAULT_SEARCH: dict[str, Any] = {
    "nas": {
        "approach": "dynas",
        "search": {"search_algorithm": "nsga2", "seed": 42},
        "dynas": {"supernet": DEFAULT_SUPERNET, "metrics": ["acc", "macs"], "population": 50, "num_evals": 200},
    }
}
PARETO_PNG = "pareto_front.png"
HYPERVOLUME_PNG = "hypervolume.png"


class UsageError(Exception):
    """Bad command-line input that is not a ConfigError (exit status 2)."""


# -- configuration --------------------------------------------------------------------------------------------------
def parse_set(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (full dotted key, value): the key gets ``nas.`` prepended unless it has it; YAML value."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set dynas.population=20")
    path = key if key == "nas" or key.startswith("nas.") else f"nas.{key}"
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = str(err).replace("\n", " ")
        raise UsageError(f"--set {path}: the value {text!r} is not valid YAML ({problem})") from None
    return path, value


def load_search_config(path: str | None, sets: Sequence[str] = ()) -> Any:
    """The validated NASConfig of a YAML file (None: `DEFAULT_SEARCH`) with the ``--set`` overrides applied."""
    from neural_nas.config import NASConfig, load_yaml

    if path is None:
        config = NASConfig.from_dict(copy.deepcopy(DEFAULT_SEARCH), source="the default search")
    else:
        try:
            config = load_yaml(path)
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
    for item in sets:
        key, value = parse_set(item)
        config.set(key, value)  # validated like any assignment: errors name the key
    return config


# -- output ---------------------------------------------------------------------------------------------------------
def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def format_front(results: Any, rows_kept: list[int] | None = None) -> str:
    """A text table of the measured Pareto front of a `plotting.Results`, sorted by the first metric; with
    ``rows_kept``, the front of those rows (their ``#`` stays their place among all measured)."""
    from neural_nas.plotting import pareto_info

    if not results.points:
        return "no measured point has all of the metrics " + ", ".join(results.metric_names)
    kept = list(range(len(results.points))) if rows_kept is None else rows_kept
    info = pareto_info([results.points[i] for i in kept], results.metric_names, results.higher_is_better)
    header = ["#", *info.labels, "sub-network"]
    rows = [[str(kept[i] + 1), *(_number(v) for v in info.scaled[i]), repr(results.archs[kept[i]])] for i in info.front]
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths)) + "  " + cells[-1]

    among = f"{len(info.values)} measured" if rows_kept is None else f"{len(kept)} of {len(results.points)} measured"
    title = f"Pareto front: {len(info.front)} of {among} ('#': order of measurement)"
    return "\n".join([title, line(header), *(line(r) for r in rows)])


def write_plots(results: Any, folder: Path) -> list[Path]:
    """The Pareto-front and hypervolume PNGs in ``folder``; none (with a note) when matplotlib is missing."""
    try:
        from neural_nas.plotting.matplotlib import _pyplot

        plt = _pyplot()
    except ImportError as err:
        print(f"no plots: {err}", file=sys.stderr)
        return []
    from neural_nas.plotting import plot_hypervolume, plot_pareto_front

    written = []
    for plot, name in [(plot_pareto_front, PARETO_PNG), (plot_hypervolume, HYPERVOLUME_PNG)]:
        fig = plot(results, path=folder / name)
        plt.close(fig)
        written.append(folder / name)
    return written


def _report(results: Any, written: dict[str, Path], folder: Path, plots: bool) -> None:
    print(format_front(results))
    print("\nwritten:")
    for label, path in written.items():
        print(f"  {label}: {path}")
    if plots and results.points:
        for png in write_plots(results, folder):
            print(f"  plot: {png}")


# -- commands -------------------------------------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace) -> int:
    from neural_nas import NAS
    from neural_nas.nas.factory import approach_class
    from neural_nas.plotting import load_results
    from neural_nas.results.config_record import record_config

    config = load_search_config(args.config, args.set)
    out = Path(args.output_dir)
    res_save_path = approach_class(config).prepare_command_line(config, out)  # or a ConfigError: not from YAML
    agent = NAS(config)  # every config error fails here, before anything is measured or written
    done, budget = agent.progress(res_save_path)
    written = {}
    if done < budget:  # a run that measures nothing leaves the record of the one that did alone
        written["config that ran"] = record_config(out, agent.resolved_config(), beside_results=done > 0)
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logger]):
        agent.search(res_save_path=res_save_path)
    written["results"] = agent.results_path(res_save_path)
    results = load_results(agent)
    _report(results, written, out, plots=not args.no_plots)
    record = written.get("config that ran") or (out / "config.yaml" if (out / "config.yaml").is_file() else None)
    if str(written["results"]).endswith(".csv") and record is not None:
        print(
            f"\nexport a row: neural-nas export {written['results']} --config {record} "
            f"--pick '#N' --out DIR   (or --pick knee, max:acc, min:macs{_where_example(results)})"
        )
    return 0


def _where_example(results: Any) -> str:
    """The closing hint's ``--where`` example, sized to this search: the median of its MACs (or of its last metric),
    which keeps about half of the rows; nothing when no row was measured."""
    import numpy as np

    names = results.metric_names
    name = "macs" if "macs" in names else names[-1]
    if not results.points:
        return ""
    median = float(np.median([point[name] for point in results.points]))
    return f"; --where '{name}{'>=' if results.higher_is_better[names.index(name)] else '<='}{median:.2g}'"


def cmd_check_config(args: argparse.Namespace) -> int:
    from neural_nas import NAS

    config = load_search_config(args.config, args.set)
    agent = NAS(config)
    agent.validate()  # exactly the checks search() makes before it measures anything
    print(f"{args.config}: valid (approach: {config.nas.approach or 'basic'})")
    print(yaml.safe_dump({"nas": agent.resolved_config()["nas"]}, sort_keys=False).rstrip())
    try:
        type(agent).prepare_command_line(copy.deepcopy(config), Path(DEFAULT_OUTPUT_DIR))
    except ConfigError as err:
        print(f"note: `neural-nas search` cannot run it ({type(agent).__name__}): {err.hint}")
    return 0


def _constraints_and_results(args: argparse.Namespace, csv_path: Path) -> tuple[Any, list[int]]:
    from neural_nas.plotting import load_results
    from neural_nas.results.selection import Constraint, rows_where

    if not csv_path.is_file():
        raise UsageError(f"results CSV not found: {str(csv_path)!r}")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else recorded_metrics(csv_path)
    results = load_results(csv_path, metrics)
    constraints = [Constraint.parse(text, results.metric_names) for text in args.where]
    return results, rows_where(results, constraints)


def cmd_front(args: argparse.Namespace) -> int:
    csv_path = Path(args.results)
    results, kept = _constraints_and_results(args, csv_path)
    print(format_front(results, kept if args.where else None))
    if args.plot and results.points:
        from neural_nas.plotting import Results

        subset = Results([results.points[i] for i in kept], [results.archs[i] for i in kept], *results[2:])
        for png in write_plots(subset, Path(args.output_dir) if args.output_dir else csv_path.parent):
            print(f"plot: {png}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from neural_nas.export import save_subnet, standalone_subnet
    from neural_nas.results.selection import pick
    from neural_nas.supernets import create_supernet

    csv_path = Path(args.results)
    config = load_search_config(args.config, args.set)
    if config.dynas.supernet is None:
        raise UsageError(f"--config {args.config}: a Dynamic NAS config (nas.dynas.supernet) is needed to export")
    supernet = create_supernet(config.dynas.supernet)
    check_results_belong(csv_path, supernet)
    results, _ = _constraints_and_results(args, csv_path)
    choice = pick(results, args.where, args.pick)
    print(f"chosen: row #{choice.number}, {choice.reason}")
    print("  " + ", ".join(f"{k} {_number(v)}" for k, v in choice.metrics.items()))
    print(f"  sub-network: {choice.arch!r}")
    module = standalone_subnet(config, choice.arch, supernet=supernet)
    files = save_subnet(module, supernet, choice.arch, args.out, metrics=choice.metrics, reason=choice.reason)
    print("written:")
    for kind, path in files.items():
        print(f"  {kind}: {path}")
    return 0


def check_results_belong(csv_path: Path, supernet: Any) -> None:
    """A ResultsFileError unless every row of ``csv_path`` is a sub-network of ``supernet`` with its exact MACs and
    parameters (the file is only read)."""
    from neural_nas._log import quiet
    from neural_nas.nas.study import Study
    from neural_nas.results.csv_store import CsvStore
    from neural_nas.results.dynast_csv import ResultsCsv

    if not csv_path.is_file():
        raise UsageError(f"results CSV not found: {str(csv_path)!r}")
    columns = ResultsCsv(csv_path).metric_columns
    with quiet():
        CsvStore(csv_path, supernet, columns).replay(Study(columns, [True] * len(columns)))


def cmd_list(args: argparse.Namespace) -> int:
    import neural_nas.approaches  # noqa: F401  (registers the built-in approaches)
    from neural_nas.evolution import algorithm_registry
    from neural_nas.evolution.tactics import tactic_registry
    from neural_nas.measurements.metrics import metric_registry
    from neural_nas.nas import nas_registry
    from neural_nas.searchers import searcher_registry
    from neural_nas.supernets import supernet_registry

    print(f"approaches (nas.approach): {', '.join(nas_registry.names())}")
    print("\nsuper-networks (nas.dynas.supernet):")
    for name in supernet_registry.names():
        cls = supernet_registry.get(name)
        encoding = getattr(cls, "encoding", None)
        genes = f"{encoding.n_genes} genes" if encoding is not None else "genes unknown"
        print(f"  {name:34s} {genes:10s} metrics: {', '.join(getattr(cls, 'metrics', ()))}")
    print("\nDynamic NAS metrics (nas.dynas.metrics, 1 to 3):")
    for name in metric_registry.names():
        metric = metric_registry.get(name)
        alias = ", ".join(metric_registry.aliases(name))
        direction = "maximised" if metric.higher_is_better else "minimised"
        print(f"  {name:14s} {direction:10s} unit: {metric.unit:11s}" + (f" alias: {alias}" if alias else ""))
    print("\nDynamic NAS algorithms (nas.search.search_algorithm), by objective count:")
    specs = [algorithm_registry.get(n) for n in algorithm_registry.names()]
    for count in sorted({s.n_objectives for s in specs}):
        names = [s.name + (" (default)" if s.default else "") for s in specs if s.n_objectives == count]
        print(f"  {count}: {', '.join(names)}")
    tactics = ", ".join(map(tactic_registry.describe, tactic_registry.names()))
    print(f"\nDynamic NAS search tactics (nas.dynas.search_tactic): {tactics}")
    searchers = ", ".join(map(searcher_registry.describe, searcher_registry.names()))
    print(f"Basic NAS search algorithms (nas.search.search_algorithm): {searchers}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from neural_nas.plotting import load_results

    csv_path = Path(args.results)
    if not csv_path.is_file():
        raise UsageError(f"results CSV not found: {str(csv_path)!r}")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if metrics is None:
        metrics = recorded_metrics(csv_path)
        if metrics is not None:
            print(f"objectives of the run recorded beside it: {', '.join(metrics)} (--metrics for others)")
    results = load_results(csv_path, metrics)
    folder = Path(args.output_dir) if args.output_dir else csv_path.parent
    _report(results, {}, folder, plots=True)
    return 0


def recorded_metrics(csv_path: Path) -> list[str] | None:
    """The searched metrics in the ``config.yaml`` that `neural-nas search` wrote beside ``csv_path``, if it names
    that file; None when there is no such record."""
    record = csv_path.parent / "config.yaml"
    if not record.is_file():
        return None
    try:
        dynas = (yaml.safe_load(record.read_text(encoding="utf-8")) or {}).get("nas", {}).get("dynas") or {}
    except (yaml.YAMLError, AttributeError):
        return None
    ran_on = dynas.get("results_csv_path")
    if not isinstance(dynas.get("metrics"), list) or not ran_on or Path(ran_on).name != csv_path.name:
        return None
    return [str(m) for m in dynas["metrics"]]


# -- plumbing -------------------------------------------------------------------------------------------------------
def import_plugin(target: str) -> None:
    """Import a module name or a ``.py`` file, for the registrations it makes (super-networks, approaches, ...)."""
    if target.endswith(".py") or Path(target).is_file():
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"--import {target!r}: file not found")
        spec = importlib.util.spec_from_file_location(f"neural_nas_plugin_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        try:
            importlib.import_module(target)
        except ModuleNotFoundError as err:
            raise UsageError(f"--import {target!r}: {err}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neural-nas",
        description="Neural architecture search with the Intel Neural Compressor NAS API.",
        epilog="Exit status: 0 done, 2 bad usage or configuration, 1 other failure, 130 interrupted.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    common.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="import a module or .py file first (it may register your own super-networks, approaches, searchers)",
    )
    sets = argparse.ArgumentParser(add_help=False)
    sets.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (dotted, `nas.` optional; the value is YAML), e.g. --set dynas.population=20",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = sub.add_parser(
        "search",
        parents=[common, sets],
        help="run a search",
        description=(
            "Run the search of a YAML config. Without one: Dynamic NAS of the embedded super-network "
            f"{DEFAULT_SUPERNET} (accuracy vs MACs, under a minute on 2 CPU cores). Running the same command again "
            "resumes from the results CSV."
        ),
    )
    search.add_argument("config", nargs="?", help="NAS YAML config (default: the embedded Dynamic NAS demo)")
    search.add_argument(
        "-o",
        "--output-dir",
        default=DEFAULT_OUTPUT_DIR,
        help=f"folder for the plots, the config that ran and (unless the config sets results_csv_path) the "
        f"results CSV (default: ./{DEFAULT_OUTPUT_DIR})",
    )
    search.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    search.set_defaults(func=cmd_search)

    check = sub.add_parser("check-config", parents=[common, sets], help="validate a config without running it")
    check.add_argument("config", help="NAS YAML config")
    check.set_defaults(func=cmd_check_config)

    lister = sub.add_parser(
        "list", parents=[common], help="registered approaches, super-networks, metrics and algorithms"
    )
    lister.set_defaults(func=cmd_list)

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="CONSTRAINT",
        help="keep rows with METRIC OP NUMBER, e.g. 'macs<=3e8' or 'acc>=75' (repeatable; OP: <=, <, >=, >, ==)",
    )
    where.add_argument(
        "--metrics",
        help="comma-separated metrics, e.g. acc,macs (default: the searched ones recorded in config.yaml beside the "
        "CSV, else every complete column)",
    )
    front = sub.add_parser(
        "front",
        parents=[common, where],
        help="print the measured Pareto front of a results CSV",
        description="Print the measured front of a Dynamic NAS results CSV, also one a search is still writing (only "
        "complete rows are read; the file is never locked or changed).",
    )
    front.add_argument("results", help="results CSV (DyNAS-T format)")
    front.add_argument("--plot", action="store_true", help="also write the Pareto-front and hypervolume PNGs")
    front.add_argument("-o", "--output-dir", help="folder for the PNGs (default: the CSV's folder)")
    front.set_defaults(func=cmd_front)

    export = sub.add_parser(
        "export",
        parents=[common, sets, where],
        help="save a chosen sub-network with its weights",
        description="Pick a measured sub-network (constraints, then an objective) and write its weights "
        "(subnet.pt), a TorchScript file that runs without this library (subnet.torchscript.pt) and subnet.json.",
    )
    export.add_argument("results", help="results CSV (DyNAS-T format) of the configured super-network")
    export.add_argument("--config", required=True, help="the Dynamic NAS config (super-network, weights, data set)")
    export.add_argument(
        "--pick",
        default="knee",
        help="knee (default: the front's point nearest the ideal), max:METRIC, min:METRIC or '#N' (a row of the table)",
    )
    export.add_argument("--out", required=True, help="folder for the files")
    export.set_defaults(func=cmd_export)

    plot = sub.add_parser("plot", parents=[common], help="plot a Dynamic NAS results CSV")
    plot.add_argument("results", help="results CSV (DyNAS-T format)")
    plot.add_argument(
        "--metrics",
        help="comma-separated metrics, e.g. acc,macs (default: the searched ones recorded in config.yaml beside the "
        "CSV, else every complete column)",
    )
    plot.add_argument("-o", "--output-dir", help="folder for the PNGs (default: the CSV's folder)")
    plot.set_defaults(func=cmd_plot)
    return parser


@contextlib.contextmanager
def _logging(verbose: bool, quiet: bool) -> Iterator[None]:
    """Log the library's messages to stderr while the command runs (the root logger is left alone)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[neural_nas] %(levelname)s %(message)s"))
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2); argparse has printed the message
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    with _logging(args.verbose, args.quiet):
        try:
            for target in args.imports:
                import_plugin(target)
            return args.func(args)
        except (ConfigError, ResultsFileError, UsageError) as err:
            print(f"neural-nas: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(
                "neural-nas: interrupted; what was measured is saved: run the same command to resume",
                file=sys.stderr,
            )
            return 130
        except Exception as err:
            if args.verbose:
                logger.exception("neural-nas %s failed", args.command)
            print(f"neural-nas: error: {type(err).__name__}: {err}", file=sys.stderr)
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
