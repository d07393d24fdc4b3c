"""``ironic-scale bench compare OLD.json NEW.json``: what got slower, as an upgrade gate.

Rows are matched by (size, fault mix, method); for each, the medians of CPU
per node and sweep time are compared. Any figure more than ``threshold``
slower, or a NEW row with correctness failures, makes the exit code 1. Rows
present on one side only are listed, not errors.

The rule itself (``judge``, ``diff_rows``) knows nothing of bench rows: ``ironic-scale
preflight`` applies the same one to the density test's rows, so both gates agree on what
a regression is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from ironic_scale.bench import results

FIGURES = (("cpu_ms_per_node", "CPU ms/node", ".3f"), ("wall_seconds", "sweep s", ".3f"))
REGRESSED, FASTER = "REGRESSED", "faster"
Key = tuple[int, str, str]
FigureSpec = tuple[str, str, str]  # (summary key, name shown, format)


@dataclass(frozen=True)
class Change:
    """One figure of one row, OLD against NEW; ``change`` None when OLD has none to divide by."""

    figure: str
    name: str
    fmt: str
    old: float | None
    new: float | None
    change: float | None
    verdict: str  # REGRESSED, FASTER or ""


@dataclass
class RowDiff:
    key: Hashable
    changes: list[Change]
    incorrect_old: bool
    incorrect_new: bool

    @property
    def regressed(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == REGRESSED]


@dataclass
class Diff:
    rows: list[RowDiff]  # NEW's order, rows on both sides only
    only_old: list[Hashable] = field(default_factory=list)
    only_new: list[Hashable] = field(default_factory=list)


def judge(old: float | None, new: float | None, threshold: float) -> tuple[float | None, str]:
    """The one rule: NEW/OLD - 1, REGRESSED past ``threshold``, faster past ``-threshold``."""
    if not old or new is None:
        return None, ""
    change = new / old - 1.0
    return change, REGRESSED if change > threshold else FASTER if change < -threshold else ""


def diff_rows(old: dict[Any, dict[str, Any]], new: dict[Any, dict[str, Any]],
              figures: tuple[FigureSpec, ...], threshold: float,
              median: Callable[[dict[str, Any], str], float | None],
              correct: Callable[[dict[str, Any]], bool | None]) -> Diff:
    """Every row present on both sides, figure by figure (lower is better for every figure);
    ``correct`` False marks a row whose answers were wrong or missing."""
    rows = []
    for key in [k for k in new if k in old]:
        changes = []
        for figure, name, fmt in figures:
            o, n = median(old[key], figure), median(new[key], figure)
            change, verdict = judge(o, n, threshold)
            changes.append(Change(figure, name, fmt, o, n, change, verdict))
        rows.append(RowDiff(key, changes, correct(old[key]) is False, correct(new[key]) is False))
    return Diff(rows, [k for k in old if k not in new], [k for k in new if k not in old])


def _index(doc: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    return {(r["size"], r["fault"], r["method"]): r for r in doc["rows"]}


def median(row: dict[str, Any], figure: str) -> float | None:
    """A row's median of ``figure`` (bench and density rows keep them under ``summary``)."""
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


def bench_diff(old: dict[str, Any], new: dict[str, Any], threshold: float) -> Diff:
    """Two bench result documents, row by row."""
    return diff_rows(_index(old), _index(new), FIGURES, threshold, median, lambda r: r.get("correct"))


def compare(old: dict[str, Any], new: dict[str, Any], threshold: float) -> tuple[list[str], int]:
    """The report lines and the number of regressions (figures past ``threshold``, or
    rows that became incorrect)."""
    diff = bench_diff(old, new, threshold)
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
    for row in diff.rows:
        key = row.key
        cells = []
        for c in row.changes:
            if c.change is None:
                cells.append(f"{'-':>26} {'':>8} {'':<9}")
                continue
            if c.verdict == REGRESSED:
                named.append(f"{key[0]} BMCs/{key[1]}/{key[2]}: {c.name} {c.change:+.1%}")
            cells.append(f"{f'{c.old:{c.fmt}} -> {c.new:{c.fmt}}':>26} {c.change:>+8.1%} {c.verdict:<9}")
        line = f"{key[0]:>6} {key[1]:<8} {key[2]:<17} " + "  ".join(cells)
        if row.incorrect_new and not row.incorrect_old:
            named.append(f"{key[0]} BMCs/{key[1]}/{key[2]}: healthy BMCs missed or answered wrong")
            line += "  INCORRECT in NEW"
        lines.append(line.rstrip())
    for side, only in (("OLD", diff.only_old), ("NEW", diff.only_new)):
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
