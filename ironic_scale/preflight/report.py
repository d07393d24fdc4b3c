"""The preflight's one report: a JSON document, rendered as a terminal table or as Markdown.

Both renderings are made from the document (``document``), so the JSON holds exactly what a
reader saw. The order answers an operator's questions in turn: may I upgrade (the verdict),
what did each part find, what regressed and by how much, what was not looked at and why,
and what else differs between the two environments.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

from ironic_scale.preflight import environment
from ironic_scale.preflight.baseline import Baseline
from ironic_scale.preflight.model import FAILED, NOT_AVAILABLE, REGRESSED, SKIPPED, Check, outcome

SCHEMA = 1
WRAP = 78  # the summary column of the terminal table
Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def document(checks: list[Check], *, started: str, finished: str, baseline: Baseline | None,
             thresholds: dict[str, float], candidate: dict[str, Any], work: str,
             saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report as data. ``saved``: where a new baseline went (``path``) or why not (``error``)."""
    result, code = outcome(checks)
    regressions = [f"{c.name}: {f.row} {f.name} {f.change_text}" for c in checks for f in c.figures
                   if f.verdict == REGRESSED]
    return {
        "tool": "ironic-scale preflight", "schema": SCHEMA, "started": started, "finished": finished,
        "result": result, "exit_code": code, "thresholds": thresholds,
        "baseline": None if baseline is None else {"path": baseline.path, "kind": baseline.kind,
                                                   "created": baseline.created},
        "environment": {"baseline": None if baseline is None else baseline.environment,
                        "candidate": candidate},
        "checks": [c.to_json() for c in checks],
        "regressions": regressions,
        "failures": [f"{c.name}: {c.summary}" for c in checks if c.status == FAILED],
        "not_run": [{"check": c.name, "status": c.status, "reason": c.summary} for c in checks
                    if c.status in (SKIPPED, NOT_AVAILABLE)],
        "saved_baseline": saved, "work": work,
    }


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _headline(doc: dict[str, Any]) -> list[str]:
    b, t = doc["baseline"], doc["thresholds"]
    lines = [f"ironic-scale preflight, {doc['started']} to {doc['finished']}: "
             f"{doc['result'].upper()} (exit {doc['exit_code']})"]
    if b:
        lines.append(f"baseline: {b['path']} ({b['kind']}, {b['created']}); regression threshold: bench "
                     f"{t['bench']:.0%}, density {t['density']:.0%}")
    else:
        lines.append("baseline: none (nothing compared; figures are this environment's own)")
    return lines


def _tables(doc: dict[str, Any]) -> list[Table]:
    checks = doc["checks"]
    parts = ("checks", ["check", "status", "time s", "summary"],
             [[c["name"], c["status"].upper() if c["status"] in (REGRESSED, FAILED) else c["status"],
               f"{c['seconds']:.1f}", c["summary"]] for c in checks])
    figures = ("figures (lower is better; baseline -> this environment)",
               ["check", "row", "figure", "baseline", "candidate", "change", "verdict"],
               [[c["name"], f["row"], f["name"], _num(f["baseline"]), _num(f["candidate"]),
                 _change(f["change"]), f["verdict"].upper() if f["verdict"] in (REGRESSED, "incorrect")
                 else f["verdict"]]
                for c in checks for f in c["figures"]])
    env = doc["environment"]
    versions = ("environment", ["", "baseline", "this environment", "changed"],
                [[k, old, new, "*" if changed else ""]
                 for k, old, new, changed in environment.side_by_side(env["baseline"], env["candidate"])])
    return [t for t in (parts, figures, versions) if t[2]]


def _notes(doc: dict[str, Any]) -> Iterator[str]:
    for c in doc["checks"]:
        for line in c["details"]:
            yield f"{c['name']}: {line}"


def _closing(doc: dict[str, Any]) -> list[str]:
    lines = []
    if doc["regressions"]:
        lines.append(f"regressed ({len(doc['regressions'])}): " + "; ".join(doc["regressions"]))
    for failure in doc["failures"]:
        lines.append(f"failed: {failure}")
    for n in doc["not_run"]:
        lines.append(f"{n['status']}: {n['check']}: {n['reason']}")
    saved = doc.get("saved_baseline")
    if saved:
        lines.append(f"baseline saved: {saved['path']}" if saved.get("path")
                     else f"baseline NOT saved: {saved['error']}")
    lines.append(f"work directory (raw results, logs): {doc['work']}")
    return lines


def render_table(doc: dict[str, Any]) -> str:
    """For a terminal: prettytable boxes (Markdown where prettytable is not installed)."""
    try:
        import prettytable
    except ImportError:
        return render_markdown(doc)
    out = _headline(doc)
    for title, header, rows in _tables(doc):
        table = prettytable.PrettyTable(header)
        table.align = "l"
        for row in rows:
            if title == "checks":  # the summary is the long one
                row = [*row[:-1], "\n".join(textwrap.wrap(row[-1], WRAP)) or row[-1]]
            table.add_row(row)
        out += ["", f"{title}:", table.get_string()]
    notes = list(_notes(doc))
    if notes:
        out += ["", *notes]
    return "\n".join([*out, "", *_closing(doc)])


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: dict[str, Any]) -> str:
    """For a ticket or a wiki page."""
    head = _headline(doc)
    out = [f"# {head[0]}", "", head[1]]
    for title, header, rows in _tables(doc):
        out += ["", f"## {title[0].upper()}{title[1:]}", "", "| " + " | ".join(header) + " |",
                "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    notes = list(_notes(doc))
    if notes:
        out += ["", "## Notes", "", *(f"- {_md_cell(n)}" for n in notes)]
    out += ["", "## Outcome", "", *(f"- {_md_cell(line)}" for line in _closing(doc))]
    return "\n".join(out) + "\n"
