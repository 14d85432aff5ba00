"""Human-readable Basic NAS reports, regenerated from the results log and written atomically."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neural_nas.pareto import summed_score

logger = logging.getLogger("neural_nas")

# The config record is not a report: it stays, and a run with other settings is recorded beside it (config_record).
REPORT_PATTERNS = ("Trial_*_results.txt", "Final_results.txt")


def arch_string(arch: Mapping[str, Any]) -> str:
    """``k1_v1,k2_v2,...`` in sorted-key order (the reference's format)."""
    return ",".join(f"{k}_{arch[k]}" for k in sorted(arch))


def result_line(arch: Mapping[str, Any], metrics: Mapping[str, float], params: int | None) -> str:
    paras = "n/a" if params is None else f"{params / 1e6:.6f}M"
    return f"{arch_string(arch)}: {dict(metrics)} Paras: {paras}"


def format_report(
    records: Sequence[Mapping[str, Any]],
    best: Sequence[Mapping[str, Any]],
    higher_is_better: Sequence[bool],
    failed: Sequence[Mapping[str, Any]] = (),
) -> str:
    """All results in evaluation order, then the Pareto-optimal ones ranked by their summed sign-adjusted metrics,
    then the architectures whose measurement failed (``on_error: skip``), if any."""
    names = list(records[0]["metrics"]) if records else []
    senses = ", ".join(f"{n} ({'higher' if h else 'lower'} is better)" for n, h in zip(names, higher_is_better))
    lines = [f"Search results: {len(records)} architectures; metrics: {senses}"]
    lines += [result_line(r["arch"], r["metrics"], r.get("params")) for r in records]
    lines += ["", f"Best model architectures (Pareto front, {len(best)}), ranked:"]
    lines += [f"{rank}. {result_line(r['arch'], r['metrics'], r.get('params'))}" for rank, r in enumerate(best, 1)]
    if failed:
        lines += ["", f"Failed measurements ({len(failed)}; see the 'error' records of results.jsonl):"]
        lines += [arch_string(r["arch"]) for r in failed]
    return "\n".join(lines) + "\n"


def study_report(study: Any) -> str:
    """`format_report` of a `Study`: its trials, its front ranked by the summed sign-adjusted metrics, its failures."""
    front = study.front()
    score = summed_score([[t.metrics[n] for n in study.metric_names] for t in front], study.higher_is_better)
    best = sorted(range(len(front)), key=lambda i: -score[i])  # the best score first; ties in measurement order
    return format_report(
        [t.as_record() for t in study.trials],
        [front[i].as_record() for i in best],
        study.higher_is_better or [],
        [{"arch": a} for a in study.failures],
    )


def archive_reports(directory: Path) -> Path | None:
    """Move earlier report files into ``previous_results/<timestamp>/``; nothing is deleted."""
    old = [p for pattern in REPORT_PATTERNS for p in directory.glob(pattern)]
    if not old:
        return None
    target = directory / "previous_results" / time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while target.exists():
        target = target.with_name(f"{target.name.split('.')[0]}.{suffix}")
        suffix += 1
    target.mkdir(parents=True)
    for p in old:
        shutil.move(str(p), target / p.name)
    logger.info("archived %d earlier report file(s) to %s", len(old), target)
    return target
