"""What is registered: approaches, super-networks, metrics, algorithms, tactics and searchers, as text
(``neural-nas list``)."""

from __future__ import annotations


def describe() -> str:
    """Every registry's names, with what a config key names them by."""
    from neural_nas.evolution import algorithm_registry
    from neural_nas.evolution.tactics import tactic_registry
    from neural_nas.measurements.metrics import metric_registry
    from neural_nas.nas import nas_registry
    from neural_nas.searchers import searcher_registry
    from neural_nas.supernets import supernet_registry

    lines = [
        f"approaches (nas.approach): {', '.join(nas_registry.names())}",
        "",
        "super-networks (nas.dynas.supernet):",
    ]
    for name in supernet_registry.names():
        cls = supernet_registry.get(name)
        encoding = getattr(cls, "encoding", None)
        genes = f"{encoding.n_genes} genes" if encoding is not None else "per model"
        lines.append(f"  {name:34s} {genes:10s} metrics: {', '.join(getattr(cls, 'metrics', ()))}")
    lines += ["", "Dynamic NAS metrics (nas.dynas.metrics, 1 to 3):"]
    for name in metric_registry.names():
        metric = metric_registry.get(name)
        alias = ", ".join(metric_registry.aliases(name))
        direction = "maximised" if metric.higher_is_better else "minimised"
        lines.append(f"  {name:14s} {direction:10s} unit: {metric.unit:11s}" + (f" alias: {alias}" if alias else ""))
    lines += ["", "Dynamic NAS algorithms (nas.search.search_algorithm), by objective count:"]
    specs = [algorithm_registry.get(n) for n in algorithm_registry.names()]
    for count in sorted({s.n_objectives for s in specs}):
        names = [s.name + (" (default)" if s.default else "") for s in specs if s.n_objectives == count]
        lines.append(f"  {count}: {', '.join(names)}")
    tactics = ", ".join(map(tactic_registry.describe, tactic_registry.names()))
    lines += ["", f"Dynamic NAS search tactics (nas.dynas.search_tactic): {tactics}"]
    searchers = ", ".join(map(searcher_registry.describe, searcher_registry.names()))
    lines.append(f"Basic NAS search algorithms (nas.search.search_algorithm): {searchers}")
    return "\n".join(lines)
