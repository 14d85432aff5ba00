"""Render the configuration reference (docs/config-reference.md) from the schema, so the docs cannot drift.

python -m neural_nas.config.reference > docs/config-reference.md
"""

from __future__ import annotations

from neural_nas.config.schema import FREE_SECTIONS, KEYS, SECTIONS


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from `neural_nas/config/schema.py` by `python -m neural_nas.config.reference`; a test fails when",
        "this file is out of date. Every key can be set in YAML (nested sections) or in Python",
        "(`config.nas.search.max_trials = 10`, `config.dynas.population = 50`). An unset key, or one set to",
        "`null`, reads as its default. A bad value raises `neural_nas.errors.ConfigError` naming the key, the value",
        "and what is allowed.",
        "",
    ]
    for section in sorted(s for s in SECTIONS if s):
        keys = [k for k in KEYS if k.path.rpartition(".")[0] == section]
        if not keys:
            continue
        lines += [
            f"## `{section}`",
            "",
            SECTIONS[section],
            "",
            "| key | allowed | default | meaning |",
            "|---|---|---|---|",
        ]
        for k in keys:
            default = f"`{k.default!r}`" + (f" (unset: `{k.unset!r}`)" if k.unset is not None else "")
            lines.append(f"| `{k.path}` | {k.constraint} | {default} | {k.doc} |")
        lines.append("")
    lines += ["## Other top-level sections", "", "Accepted on purpose (the reference's YAML files carry them):", ""]
    lines += [f"- `{name}`: {doc}" for name, doc in FREE_SECTIONS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
