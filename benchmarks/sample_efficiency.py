"""Sample efficiency of Dynamic NAS: hypervolume of the measured front vs the number of measured sub-networks.

Search tactics ``linas`` (the default loop), ``evolutionary`` (the same NSGA-II measuring every individual) and
``random``, several seeds each, objectives top-1 (max) vs MACs (min). For each N, the target is the median hypervolume
random search reaches with 4N measurements; the table gives the measurements each tactic needs to reach it (median
and range over seeds; ``>B`` when a seed never reaches it within its budget B).

Super-networks: ``ofa_mbv3_w1.0_surrogate`` (default; see `_surrogate.py`: OFA MobileNetV3 w1.0 genes, exact MAC
tables, top-1 from a surrogate fitted on all shared DyNAS-T rows) or any registered one that measures acc and MACs
(``--supernet ofa_mbv3_digits``).

    .venv/bin/python benchmarks/sample_efficiency.py [--seeds 5] [--ns 50,100,250] [--inner-evals 20000]
        [--supernet ofa_mbv3_w1.0_surrogate] [--plot benchmarks/plots/sample_efficiency.png]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _surrogate import REFERENCE_POINTS, SURROGATE, fmt_needed, hypervolume_curve, needed  # noqa: E402

TACTICS = ("linas", "evolutionary", "random")


def run_search(
    supernet: str,
    tactic: str,
    seed: int,
    num_evals: int,
    population: int,
    inner_evals: int,
    workdir: Path,
    initial_population: int | None = None,
) -> tuple[np.ndarray, float]:
    """One search; returns (rows of (top-1, MACs in millions) in measurement order, wall seconds)."""
    from neural_nas import NAS, NASConfig
    from neural_nas.evolution import tactics
    from neural_nas.supernets import supernet_registry

    config = NASConfig(approach="dynas", search_algorithm="nsga2")
    config.nas.search.seed = seed
    d = config.dynas
    d.supernet, d.metrics, d.population, d.num_evals = supernet, ["acc", "macs"], population, num_evals
    d.search_tactic, d.inner_evals, d.initial_population = tactic, inner_evals, initial_population
    first = f"{initial_population or 'default'}_share{tactics.MEASURED_SHARE}" if tactic == "linas" else "na"
    d.results_csv_path = str(
        workdir / f"{supernet}_{tactic}_s{seed}_n{num_evals}_p{population}_i{inner_evals}_first{first}.csv"
    )
    if "num_workers" in supernet_registry.get(supernet).measurement_settings:  # a real data set: no worker processes
        d.num_workers = 0
    start = time.perf_counter()
    agent = NAS(config)
    agent.search()
    elapsed = time.perf_counter() - start
    rows = [(m["accuracy_top1"], m["macs"] / 1e6) for m in agent.search_results.values()]
    return np.array(rows), elapsed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", default=SURROGATE)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ns", default="50,100,250", help="N values: targets are random search's HV at 4N")
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--inner-evals", type=int, default=20000)
    parser.add_argument(
        "--initial-population",
        type=int,
        default=None,
        help="random sub-networks before linas fits its predictors (default: the library's, 20)",
    )
    parser.add_argument(
        "--measured-share",
        type=float,
        default=None,
        help="ablation: share of linas's inner first population taken from the best measured "
        "sub-networks (default: the library's, 0.5; 0 starts it at random, as the reference)",
    )
    parser.add_argument("--linas-evals", type=int, default=None, help="linas budget (default 4 * max N)")
    parser.add_argument(
        "--evals",
        default=None,
        help="budgets per tactic, e.g. 'linas=150,evolutionary=200' (default 4 * max N; random always needs 4 * max N)",
    )
    parser.add_argument("--tactics", default=",".join(TACTICS))
    parser.add_argument(
        "--reference",
        default=None,
        help="HV reference 'top1,MMACs' (default: fixed per super-network; else from all runs)",
    )
    parser.add_argument("--surrogate-quality", action="store_true", help="also print the surrogate's 5-fold fit")
    parser.add_argument(
        "--workdir",
        default=None,
        help="keep each run's results CSV here: a rerun with the same settings resumes (re-uses) it "
        "instead of searching again (its wall time is then not a search's); empty it after "
        "changing the library",
    )
    parser.add_argument("--plot", default=str(Path(__file__).resolve().parent / "plots" / "sample_efficiency.png"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from neural_nas.evolution import tactics as library_tactics

    if args.measured_share is not None:
        library_tactics.MEASURED_SHARE = args.measured_share
    ns = [int(n) for n in args.ns.split(",")]
    tactics = args.tactics.split(",")
    budget = 4 * max(ns)
    budgets = {t: budget for t in tactics}
    if "linas" in budgets and args.linas_evals:
        budgets["linas"] = args.linas_evals
    for item in filter(None, (args.evals or "").split(",")):
        tactic, evals = item.split("=")
        budgets[tactic] = int(evals)

    if args.supernet == SURROGATE:
        from _surrogate import dedup, install_surrogate, load_rows, surrogate_cv_quality

        start = time.perf_counter()
        _, n_rows = install_surrogate()
        print(
            f"surrogate: MLP on active-block features, fitted on {n_rows} distinct shared rows "
            f"in {time.perf_counter() - start:.1f} s"
        )
        if args.surrogate_quality:
            q = surrogate_cv_quality(*dedup(*load_rows()))
            print(f"surrogate 5-fold fit: Kendall tau {q['kendall_tau']:.3f}, RMSE {q['rmse']:.3f} top-1 points")

    runs: dict[str, list[np.ndarray]] = {t: [] for t in tactics}
    times: dict[str, list[float]] = {t: [] for t in tactics}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for tactic in tactics:
            for seed in range(args.seeds):
                rows, elapsed = run_search(
                    args.supernet,
                    tactic,
                    seed,
                    budgets[tactic],
                    args.population,
                    args.inner_evals,
                    workdir,
                    args.initial_population,
                )
                runs[tactic].append(rows)
                times[tactic].append(elapsed)
                print(f"  {tactic:12s} seed {seed}: {len(rows)} measured in {elapsed:.1f} s", flush=True)

    if args.reference:
        reference = tuple(float(v) for v in args.reference.split(","))
    elif args.supernet in REFERENCE_POINTS:
        reference = REFERENCE_POINTS[args.supernet]
    else:  # worst values over all runs, fixed before any hypervolume is computed
        everything = np.concatenate([r for rs in runs.values() for r in rs])
        reference = (float(everything[:, 0].min()), float(everything[:, 1].max()))
    curves = {t: [hypervolume_curve(r, reference) for r in rs] for t, rs in runs.items()}

    first = args.initial_population or min(args.population, library_tactics.DEFAULT_INITIAL_POPULATION)
    print(
        f"\n{args.supernet}: top-1 vs MACs, population {args.population}, linas's initial population {first} "
        f"and measured share {library_tactics.MEASURED_SHARE}, inner_evals {args.inner_evals}, "
        f"{args.seeds} seeds; HV reference point top-1 {reference[0]} %, MACs {reference[1]} M (HV in %*MMACs)"
    )
    usual = {n for n in (50, 100, 200, 250, 400, 500, 1000) if n <= budget}
    checkpoints = sorted(usual | set(ns) | {4 * n for n in ns})
    print(f"{'tactic':12s} " + " ".join(f"{f'HV@{c}':>16s}" for c in checkpoints) + f" {'s/run':>7s}")
    for t in tactics:
        cells = []
        for c in checkpoints:
            values = [cv[c - 1] for cv in curves[t] if len(cv) >= c]
            cells.append(f"{np.median(values):8.1f}±{np.std(values):<6.1f}" if values else f"{'-':>15s}")
        print(f"{t:12s} " + " ".join(f"{c:>16s}" for c in cells) + f" {np.median(times[t]):7.1f}")

    summary: dict = {"reference": reference, "needed": {}}
    # The targets: random search's median HV at 4N and the evolutionary baseline's at 2N.
    baselines = [(b, k) for b, k in (("random", 4), ("evolutionary", 2)) if b in curves]
    for baseline, times_n in baselines:
        print(
            f"\nmeasurements needed to reach {baseline} search's median HV at {times_n}N (median [range] over seeds):"
        )
        print(f"{'N':>5s} {'target HV':>10s} " + " ".join(f"{t:>22s}" for t in tactics) + "  linas <= N?")
        for n in ns:
            at = [cv[times_n * n - 1] for cv in curves[baseline] if len(cv) >= times_n * n]
            if not at:
                print(f"{n:5d} (the {baseline} runs stop before {times_n * n} measurements)")
                continue
            target = float(np.median(at))
            need = {t: [needed(cv, target) for cv in curves[t]] for t in tactics}
            summary["needed"][(baseline, n)] = {t: float(np.median(v)) for t, v in need.items()}
            verdict = ""
            if "linas" in need:
                lin = float(np.median(need["linas"]))
                verdict = f"  {'yes' if lin <= n else 'no'} ({lin:g} vs {n})"
            print(
                f"{n:5d} {target:10.1f} "
                + " ".join(f"{fmt_needed(need[t], budgets[t]):>22s}" for t in tactics)
                + verdict
            )

    if args.plot:
        plot(curves, args, reference)
    return summary


def plot(curves: dict[str, list[np.ndarray]], args: argparse.Namespace, reference: tuple) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for tactic, cs in curves.items():
        length = min(len(c) for c in cs)
        stacked = np.stack([c[:length] for c in cs])
        x = np.arange(1, length + 1)
        median = np.median(stacked, axis=0)
        (line,) = ax.plot(x, median, label=f"{tactic} (median of {len(cs)})")
        ax.fill_between(x, stacked.min(axis=0), stacked.max(axis=0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("sub-networks measured")
    ax.set_ylabel(f"hypervolume (ref. top-1 {reference[0]} %, {reference[1]} MMACs)")
    ax.set_title(
        f"{args.supernet}: top-1 vs MACs, population {args.population}, inner_evals {args.inner_evals}", fontsize=9
    )
    ax.legend()
    ax.grid(alpha=0.3)
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
