"""The end of an import: a table of outcomes, the nodes that need a look, and ``--json``.

Counts answer "did it work"; the listed nodes (failed, conflicts, skipped rows) answer
"what do I fix", each with its step and Ironic's reason, so nobody has to read the journal.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ironic_scale.fleet import importer as imp
from ironic_scale.fleet import summary
from ironic_scale.fleet.inventory import Problem

LABELS = {
    imp.AVAILABLE: "created, now available",
    imp.ACTIVE: "adopted, now active",
    imp.ALREADY_DONE: "already done (earlier run)",
    imp.CONFLICT: "skipped: someone else's node of that name",
    imp.INVALID: "skipped: invalid row",
    imp.NOT_FINISHED: "not finished (interrupted)",
}
SHOWN = 20  # problem nodes listed on the console; --json has them all


def label(result: imp.Result) -> str:
    if result.outcome == imp.FAILED:
        return f"failed at {result.step}"
    return LABELS[result.outcome]


def counts(results: list[imp.Result]) -> list[tuple[str, int]]:
    """(label, count) in the order of ``importer.OUTCOMES``, failures by step; zero counts left out."""
    by_label = Counter(label(r) for r in results)
    order = {o: i for i, o in enumerate(imp.OUTCOMES)}
    firsts = sorted({(order[r.outcome], label(r)) for r in results})
    return [(name, by_label[name]) for _, name in firsts]


def imported(results: list[imp.Result]) -> int:
    """Nodes this run brought to their target state."""
    return sum(r.outcome in (imp.AVAILABLE, imp.ACTIVE) for r in results)


def table(results: list[imp.Result], elapsed: float) -> str:
    rows = [*counts(results), ("total", len(results))]
    rate = imported(results) / elapsed if elapsed > 0 else 0.0
    return (f"{summary.table(('outcome', 'nodes'), rows, align={'outcome': 'l', 'nodes': 'r'})}\n"
            f"{imported(results)} nodes imported in {elapsed:.1f} s ({rate:.1f} nodes/s)")


def attention(results: list[imp.Result], limit: int = SHOWN) -> list[str]:
    """One line per node that did not get where the inventory wants it (the first ``limit``)."""
    bad = [r for r in results if r.outcome in (imp.FAILED, imp.CONFLICT)]
    lines = [f"  {r.name} (line {r.line}): {label(r)}: {r.reason}"
             + (f" [Ironic: {r.state}]" if r.state else "") for r in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more (--json FILE lists them all)")
    return lines


def write_json(path: str | Path, inventory: str | Path, results: list[imp.Result], problems: list[Problem],
               elapsed: float, interrupted: bool = False, dry_run: bool = False,
               plan: dict[str, int] | None = None) -> None:
    """Machine-readable results: counts by outcome, every node, every problem row."""
    out: dict[str, Any] = {
        "inventory": str(inventory), "finished_at": round(time.time(), 3), "elapsed_s": round(elapsed, 3),
        "imported": imported(results),
        "nodes_per_s": round(imported(results) / elapsed, 3) if elapsed > 0 else 0.0,
        "interrupted": interrupted, "dry_run": dry_run,
        "counts": dict(Counter(r.outcome for r in results)),
        "nodes": [r.as_dict() for r in results],
        "invalid": [{"line": p.line, "field": p.field, "message": p.message} for p in problems],
    }
    if plan is not None:
        out["plan"] = plan
    Path(path).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
