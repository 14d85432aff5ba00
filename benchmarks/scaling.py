"""How the search overhead of one Dynamic NAS loop scales with the population and with the measurements so far.

Same loop as `search_overhead.py` (our configuration: `Predictor` on active-block features for top-1, exact MACs,
the numpy NSGA-II on the predictors, picking the unmeasured best), on the distinct shared DyNAS-T rows:

- vs population (10, 50, 200) at ``--fixed-rows`` measured rows; the inner search runs with a population of at least
  `MIN_INNER_POPULATION` (200), so populations 10 and 50 search like 200;
- vs measured rows (50 -> 2,000) at population 50; top-1 Kendall tau on the held-out rest is shown as well.

    .venv/bin/python benchmarks/scaling.py [--populations 10,50,200] [--rows 50,100,250,500,1000,2000]
        [--inner-evals 20000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_overhead import held_out_quality, one_loop, split_rows  # noqa: E402


def row(label: str, times: dict, tau: float | None = None) -> str:
    tau_text = f"{tau:9.3f}" if tau is not None else f"{'':9s}"
    return (
        f"{label:>12s} {times['fit accuracy_top1']:10.2f} {times['inner search']:15.2f} {times['total']:8.2f} "
        f"{tau_text}"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--populations", default="10,50,200")
    parser.add_argument("--rows", default="50,100,250,500,1000,2000")
    parser.add_argument("--fixed-rows", type=int, default=250)
    parser.add_argument("--inner-evals", type=int, default=20000)
    args = parser.parse_args(argv)
    header = f"{'':>12s} {'fit top-1 s':>10s} {'inner search s':>15s} {'total s':>8s} {'top-1 tau':>9s}"
    out: dict = {"population": {}, "rows": {}}

    print(f"search overhead vs population ({args.fixed_rows} measured rows, {args.inner_evals} predicted evaluations)")
    print(header)
    train_x, train_y, _, _ = split_rows(args.fixed_rows)
    for population in (int(p) for p in args.populations.split(",")):
        times, _ = one_loop("ours", train_x, train_y, population, args.inner_evals)
        out["population"][population] = times
        print(row(f"pop {population}", times), flush=True)

    print(f"\nsearch overhead vs measured rows (population 50, {args.inner_evals} predicted evaluations)")
    print(header)
    for n in (int(r) for r in args.rows.split(",")):
        train_x, train_y, test_x, test_y = split_rows(n)
        times, predictors = one_loop("ours", train_x, train_y, 50, args.inner_evals)
        tau = held_out_quality(predictors, test_x, test_y)["accuracy_top1"]["kendall_tau"]
        out["rows"][n] = {**times, "tau": tau}
        print(row(f"{n} rows", times, tau), flush=True)
    return out


if __name__ == "__main__":
    main()
