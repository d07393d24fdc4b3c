"""``ironic-scale bench compare OLD.json NEW.json``: what got slower, as an upgrade gate.

Rows are matched by (size, fault mix, method); for each, the medians of CPU
per node and sweep time are compared. Any figure more than ``threshold``
slower, or a NEW row with correctness failures, makes the exit code 1. Rows
present on one side only are listed, not errors.
"""

from __future__ import annotations

import argparse
from typing import Any

from ironic_scale.bench import results

FIGURES = (("cpu_ms_per_node", "CPU ms/node", ".3f"), ("wall_seconds", "sweep s", ".3f"))
Key = tuple[int, str, str]


def _index(doc: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    return {(r["size"], r["fault"], r["method"]): r for r in doc["rows"]}


def _median(row: dict[str, Any], figure: str) -> float | None:
    s = row["summary"].get(figure)
    return s["median"] if s else None


def _context(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Versions and machine facts that differ: what else changed besides the code."""
    lines = []
    for section in ("versions", "machine"):
        a, b = old.get(section, {}), new.get(section, {})
        for k in sorted(set(a) | set(b)):
            if k != "hostname" and a.get(k) != b.get(k):
                lines.append(f"  {section} {k}: {a.get(k)} -> {b.get(k)}")
    return lines


def compare(old: dict[str, Any], new: dict[str, Any], threshold: float) -> tuple[list[str], int]:
    """The report lines and the number of regressions (figures past ``threshold``, or
    rows that became incorrect)."""
    a, b = _index(old), _index(new)
    lines = [f"OLD: {old.get('started')} ({old.get('mode')})   NEW: {new.get('started')} "
             f"({new.get('mode')})   threshold {threshold:.0%}"]
    context = _context(old, new)
    if context:
        lines += ["what differs besides the figures:", *context]
    head = (f"{'size':>6} {'fault':<8} {'method':<17} " + "  ".join(
        f"{name + ' old -> new':>26} {'change':>8} {'':<9}" for _, name, _ in FIGURES))
    head = head.rstrip()
    lines += ["", head, "-" * len(head)]
    named: list[str] = []
    for key in [k for k in b if k in a]:  # NEW's order: sizes, fault mixes, methods as run
        cells = []
        for figure, name, fmt in FIGURES:
            o, n = _median(a[key], figure), _median(b[key], figure)
            if not o or n is None:
                cells.append(f"{'-':>26} {'':>8} {'':<9}")
                continue
            change = n / o - 1.0
            verdict = "REGRESSED" if change > threshold else "faster" if change < -threshold else ""
            if verdict == "REGRESSED":
                named.append(f"{key[0]} BMCs/{key[1]}/{key[2]}: {name} {change:+.1%}")
            cells.append(f"{f'{o:{fmt}} -> {n:{fmt}}':>26} {change:>+8.1%} {verdict:<9}")
        line = f"{key[0]:>6} {key[1]:<8} {key[2]:<17} " + "  ".join(cells)
        if b[key].get("correct") is False and a[key].get("correct") is not False:
            named.append(f"{key[0]} BMCs/{key[1]}/{key[2]}: healthy BMCs missed or answered wrong")
            line += "  INCORRECT in NEW"
        lines.append(line.rstrip())
    for side, only in (("OLD", [k for k in a if k not in b]), ("NEW", [k for k in b if k not in a])):
        if only:
            lines.append(f"only in {side}: " + ", ".join(f"{s} BMCs/{f}/{m}" for s, f, m in only))
    lines.append("")
    if named:
        lines += [f"{len(named)} regression(s) past {threshold:.0%}:", *(f"  {n}" for n in named)]
    else:
        lines.append(f"no regression past {threshold:.0%}")
    return lines, len(named)


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two result files; exit 1 on a regression",
                       description="Compare two 'ironic-scale bench' JSON results row by row "
                                   "(size, fault mix, method): median CPU per node and sweep "
                                   "time, as % change. Exit code 1 when any figure got slower "
                                   "by more than --threshold or a row became incorrect.")
    p.add_argument("old", help="result file from before (e.g. the current release)")
    p.add_argument("new", help="result file from after (e.g. the upgrade candidate)")
    p.add_argument("--threshold", type=float, default=0.10,
                   help="allowed slowdown as a fraction (default 0.10 = 10%%); sweeps of small "
                        "fleets last milliseconds and are noisy, so gate on large sizes")
    p.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    if args.threshold < 0:
        raise ValueError("--threshold must not be negative")
    lines, regressions = compare(results.load(args.old), results.load(args.new), args.threshold)
    print("\n".join(lines))
    return 1 if regressions else 0
