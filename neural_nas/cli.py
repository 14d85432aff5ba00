"""The ``neural-nas`` command (also ``python -m neural_nas``): a thin layer over the Python API.

    neural-nas search [CONFIG.yaml] [--set dynas.population=20 ...] [--where "params<=1e6" ...] [--output-dir DIR]
    neural-nas check-config CONFIG.yaml [--set ...]
    neural-nas list
    neural-nas plot RESULTS.csv [--metrics acc,macs]
    neural-nas front RESULTS.csv [--where "macs<=3e8" ...] [--plot]
    neural-nas export RESULTS.csv [--config CONFIG.yaml] [--where ...] [--pick knee|max:acc|#N] --out DIR

Exit status: 0 done; 2 bad usage or configuration (a ConfigError, a missing config file: the message only, no
traceback); 1 any other failure; 130 interrupted (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from neural_nas.config.overrides import DEFAULT_SEARCH, DEFAULT_SUPERNET, load_search_config, parse_set
from neural_nas.errors import ConfigError, DataError, ResultsFileError

logger = logging.getLogger("neural_nas")

__all__ = ["DEFAULT_SEARCH", "build_parser", "main", "parse_set"]

DEFAULT_OUTPUT_DIR = "neural_nas_results"


def _metrics(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def _results_of(csv_path: str, metrics: str | None) -> tuple[object, Path]:
    """The measured rows of a results CSV for the chosen (or recorded) objectives, checked as export checks them."""
    from neural_nas.plotting import load_measured
    from neural_nas.results.config_record import recorded_metrics

    path, chosen = Path(csv_path), _metrics(metrics)
    if chosen is None and path.is_file():
        chosen = recorded_metrics(path)  # read once: load_measured would read the record again
        if chosen is not None:
            print(f"objectives of the run recorded beside it: {', '.join(chosen)} (--metrics for others)")
    return load_measured(path, chosen), path


def _print_written(written: dict[str, Path]) -> None:
    print("\nwritten:")
    for label, path in written.items():
        print(f"  {label}: {path}")


# -- commands: each parses nothing and computes nothing the library could not do from Python ----------------------
def cmd_search(args: argparse.Namespace) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from neural_nas import NAS
    from neural_nas.export import export_hint
    from neural_nas.nas.factory import approach_class
    from neural_nas.plotting import load_results
    from neural_nas.plotting.report import format_front, write_plots
    from neural_nas.results.config_record import record_of

    config = load_search_config(args.config, args.set)
    if args.where:  # a Dynamic NAS search measures only sub-networks that meet them
        config.dynas.constraints = [*config.dynas.constraints, *args.where]
    out = Path(args.output_dir)
    res_save_path = approach_class(config).prepare_command_line(config, out)  # or a ConfigError: not from YAML
    agent = NAS(config)  # every config error fails here, before anything is measured or written
    with logging_redirect_tqdm(loggers=[logger]):
        agent.search(res_save_path=res_save_path)
    results = load_results(agent)
    print(format_front(results))
    path = agent.results_path(res_save_path)
    written = {"config that ran": agent.config_record} if agent.config_record else {}
    written["results"] = path
    if not args.no_plots and results.points:
        written.update({f"plot {png.name}": png for png in write_plots(results, out)})
    _print_written(written)
    record = agent.config_record or record_of(path)
    if path.suffix == ".csv" and record is not None:
        print("\n" + export_hint(results, path, record))
    return 0


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


def cmd_front(args: argparse.Namespace) -> int:
    from neural_nas.plotting import Results
    from neural_nas.plotting.report import format_front, write_plots
    from neural_nas.results.selection import Constraint, rows_where

    results, path = _results_of(args.results, args.metrics)
    kept = rows_where(results, [Constraint.parse(text, results.metric_names) for text in args.where])
    print(format_front(results, kept if args.where else None))
    if args.plot and results.points:
        subset = Results([results.points[i] for i in kept], [results.archs[i] for i in kept], *results[2:])
        for png in write_plots(subset, Path(args.output_dir) if args.output_dir else path.parent):
            print(f"plot: {png}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from neural_nas.export import export_pick
    from neural_nas.plotting.report import format_number
    from neural_nas.results.config_record import record_of

    source = args.config or record_of(Path(args.results))  # default: the record the search wrote beside the CSV
    config = load_search_config(str(source), args.set) if source else None
    choice, files = export_pick(
        args.results,
        config,
        args.out,
        by=args.pick,
        where=args.where,
        metrics=_metrics(args.metrics),
        formats=args.format,
    )
    print(f"chosen: row #{choice.number}, {choice.reason}")
    print("  " + ", ".join(f"{k} {format_number(v)}" for k, v in choice.metrics.items()))
    print(f"  sub-network: {choice.arch!r}")
    _print_written(files)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from neural_nas.catalog import describe

    print(describe())
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from neural_nas.plotting.report import format_front, write_plots

    results, path = _results_of(args.results, args.metrics)
    print(format_front(results))
    pngs = write_plots(results, Path(args.output_dir) if args.output_dir else path.parent)
    if pngs:
        _print_written({f"plot {png.name}": png for png in pngs})
    return 0


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
    search.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="CONSTRAINT",
        help="measure only sub-networks with METRIC OP NUMBER on an exact metric, e.g. 'params<=1.5e8' or "
        "'macs<=300M' (repeatable; adds to nas.dynas.constraints)",
    )
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
        help="keep rows with METRIC OP NUMBER, e.g. 'macs<=3e8', 'macs<=300M' or 'acc>=75' (repeatable; OP: <=, <, "
        ">=, >, ==; NUMBER may end in k, M, G or T)",
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
        "(subnet.pt), files that run without this library in the chosen formats (each checked against the "
        "sub-network) and subnet.json, its model card.",
    )
    export.add_argument("results", help="results CSV (DyNAS-T format) of the configured super-network")
    export.add_argument(
        "--config",
        help="the Dynamic NAS config (super-network, weights, data set); default: the record the search wrote beside "
        "the CSV (config.yaml)",
    )
    export.add_argument(
        "--pick",
        default="knee",
        help="knee (default: the front's point nearest the ideal), max:METRIC, min:METRIC or '#N' (a row of the table)",
    )
    export.add_argument("--out", required=True, help="folder for the files")
    export.add_argument(
        "--format",
        default="pt2",
        help="pt2 (default: torch.export), onnx (needs pip install 'neural-nas[onnx]'), torchscript, hf (a Hugging "
        "Face model folder of a language model; needs 'neural-nas[llm]'); several separated by commas",
    )
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
            from neural_nas.plugins import import_plugin

            for target in args.imports:
                import_plugin(target)
            return args.func(args)
        except (ConfigError, ResultsFileError, DataError) as err:  # what the user gave is wrong
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
