"""The density test's result document, terminal table and plot.

The table is rendered from the saved document, so it shows exactly what the
JSON holds; ratios are taken between the series of the same run and fleet
(``vs ipmi``: Ironic's ipmitool driver; ``vs native``: native-ipmi on stock
Ironic, the baseline of the patched series).
"""

from __future__ import annotations

import datetime
import statistics
from typing import Any

from ironic_scale.bench import plot as bench_plot
from ironic_scale.bench import results
from ironic_scale.bench.report import RULE, ratio, spread_text
from ironic_scale.density.variants import NAMES, VARIANTS
from ironic_scale.stack.pgstats import KINDS

DEFAULT_INTERVAL = 120  # Ironic's [conductor]sync_power_state_interval default
# CPU is sampled from /proc every 0.25 s (in ticks of 10 ms): a cycle under 1 s is too short for
# the interpolated figure to be more than a guess, so its upper bound is shown too.
COARSE_CYCLE = 1.0
PANELS = (("conductor_cpu_ms_per_node", "conductor CPU per node per sync cycle (ms)"),
          ("cycle_seconds", "power sync cycle time (s)"))
SQL_PANEL = (("db_statements_per_node", "SQL statements per node per sync cycle"),)
# One colour per series, whichever of them a run has.
COLOURS = {name: f"C{i}" for i, name in enumerate(NAMES)}
NO_SQL_NOTE = ("SQL statements per cycle are counted on PostgreSQL only (pg_stat_statements): "
               "run with --db postgresql")


def _medians(dicts: list[dict[str, int]]) -> dict[str, float] | None:
    """Per-key medians of per-cycle counts (a key missing from a cycle counts 0 there), keys in the
    order first seen (the log line's, or pgstats.KINDS)."""
    if not dicts:
        return None
    keys = dict.fromkeys(k for d in dicts for k in d)
    return {k: statistics.median(d.get(k, 0) for d in dicts) for k in keys}


def _row(record: dict[str, Any]) -> dict[str, Any]:
    cycles = record.get("cycles", [])
    size = record["size"]

    def per_node(key: str) -> list[float]:
        return [c[key] * 1000 / size for c in cycles if c.get(key) is not None]

    def counted(key: str, scale: float = 1.0) -> dict[str, float] | None:
        return results.spread([c[key] / scale for c in cycles if c.get(key) is not None])

    return {
        "size": size, "method": record["driver"], "fault": "none", "cycles": len(cycles),
        "summary": {
            "cycle_seconds": results.spread([c["runtime"] for c in cycles]),
            "conductor_cpu_ms_per_node": results.spread(per_node("conductor_cpu_seconds")),
            # Upper bound from the samples around each cycle (for cycles under COARSE_CYCLE).
            "conductor_cpu_ms_per_node_max": results.spread(per_node("conductor_cpu_seconds_max")),
            "sim_cpu_ms_per_node": results.spread(per_node("sim_cpu_seconds")),
            "polled_min": min((c["polled"] for c in cycles), default=None),
            # PostgreSQL only: transactions (COMMIT/ROLLBACK) and rows read within each cycle, per node.
            "db_transactions_per_node": counted("db_transactions", size),
            "db_rows_read_per_node": counted("db_rows_read", size),
            # PostgreSQL only: pg_stat_statements calls in the stack's database within each cycle.
            "db_statements_per_cycle": counted("db_statements"),
            "db_statements_per_node": counted("db_statements", size),
            "db_statements_by_kind": _medians([{k: c[f"db_statements_{k}"] for k in KINDS}
                                               for c in cycles if c.get("db_statements") is not None]),
            "db_statements_evicted": sum(c.get("db_statements_evicted") or 0 for c in cycles),
            # The patched Ironic's bulk-sync line, when it logs one: medians per class.
            "node_classes": _medians([c["node_classes"] for c in cycles if c.get("node_classes")]),
        },
        "expected": cycles[0]["expected"] if cycles else None,
        "missed_live": sum(c["missed_live"] for c in cycles),
        "rss_mib": record.get("rss_mib", {}),
        "record": record,
    }


def _vs(rows: list[dict[str, Any]], row: dict[str, Any], base_method: str) -> float | None:
    """Conductor CPU per node of ``row`` over that of ``base_method`` at the same size."""
    base = next((r for r in rows if r["size"] == row["size"] and r["method"] == base_method), None)
    mine = row["summary"]["conductor_cpu_ms_per_node"]
    theirs = base and base["summary"]["conductor_cpu_ms_per_node"]
    return mine["median"] / theirs["median"] if mine and theirs else None


def document(records: list[dict[str, Any]], settings: dict[str, Any],
             started: datetime.datetime) -> dict[str, Any]:
    rows = [_row(r) for r in records]
    for row in rows:
        row["cpu_vs_ipmi"] = _vs(rows, row, "ipmi")
        row["cpu_vs_native"] = _vs(rows, row, "native-ipmi")
    return {"kind": "ironic-scale density", "started": started.isoformat(timespec="seconds"),
            "settings": settings, "versions": results.versions(), "machine": results.machine(),
            "rows": rows}


def render(doc: dict[str, Any]) -> str:
    settings = doc["settings"]
    width = max([12, *(len(r["method"]) for r in doc["rows"])])
    lines = [
        f"ironic-scale density, {doc['started']}: a real Ironic {doc['versions'].get('ironic')} "
        f"({settings['db']}, one conductor), sync interval {settings['sync_interval']} s, "
        f"{doc['machine'].get('cores')} cores",
        "Cycle time from Ironic's log; polled nodes from the simulator; conductor CPU is its "
        "worker process, children included, within each cycle; simulator CPU shown separately; "
        "SQL: statements the stack's database ran within each cycle (pg_stat_statements).",
        "",
        f"{'nodes':>6} {'driver':<{width}} {'cyc':>3} {'cycle s med (min-max)':>24} "
        f"{'CPU ms/node med (min-max)':>26} {'vs ipmi':>8} {'vs native':>9} {'sim ms/node':>11} "
        f"{'polled':>13} {'SQL/cycle':>9} {'RSS MiB':>8} {'of 120 s':>8}",
    ]
    for r in doc["rows"]:
        s = r["summary"]
        polled = f"{s['polled_min']}/{r['expected']}" if s["polled_min"] is not None else "-"
        cyc = s["cycle_seconds"]
        share = f"{cyc['median'] / DEFAULT_INTERVAL:.0%}" if cyc else "-"
        sql = f"{s['db_statements_per_cycle']['median']:.0f}" if s.get("db_statements_per_cycle") else "-"
        lines.append(
            f"{r['size']:>6} {r['method']:<{width}} {r['cycles']:>3} {spread_text(cyc, '.2f'):>24} "
            f"{spread_text(s['conductor_cpu_ms_per_node'], '.3f'):>26} {ratio(r.get('cpu_vs_ipmi')):>8} "
            f"{ratio(r.get('cpu_vs_native')):>9} "
            f"{spread_text(s['sim_cpu_ms_per_node'], '.3f').split(' ')[0]:>11} {polled:>13} {sql:>9} "
            f"{r['rss_mib'].get('conductor', '-'):>8} {share:>8}")
    singles = sorted({r["size"] for r in doc["rows"]
                      if r["cycles"] == 1 and VARIANTS.get(r["method"], VARIANTS["ipmi"]).driver == "ipmi"})
    if singles:
        lines.append(f"(one cycle only at {', '.join(map(str, singles))} nodes where 'cyc' is 1: "
                     "ipmitool takes many minutes per cycle there)")
    if settings.get("db") != "postgresql":
        lines.append(f"(SQL/cycle: {NO_SQL_NOTE})")
    missed = [r for r in doc["rows"] if r["missed_live"]]
    for r in missed:
        ex = r["record"]["cycles"][0].get("missed_live_examples")
        lines += [RULE, f"{r['size']} nodes, {r['method']}: {r['missed_live']} live nodes not polled "
                  f"in a measured cycle (e.g. {ex})", RULE]
    coarse = [r for r in doc["rows"] if r["summary"]["cycle_seconds"]
              and r["summary"]["cycle_seconds"]["median"] < COARSE_CYCLE
              and r["summary"].get("conductor_cpu_ms_per_node_max")]
    if coarse:
        bounds = ", ".join(f"{spread_text(r['summary']['conductor_cpu_ms_per_node_max'], '.3f')} ms/node "
                           f"for {r['size']} {r['method']}" for r in coarse)
        lines.append(f"(cycles under {COARSE_CYCLE:g} s are short next to the CPU sampling grain, 0.25 s: "
                     "CPU/node is interpolated between samples; from the samples around each cycle it is "
                     f"at most {bounds})")
    for r in doc["rows"]:
        if r["summary"].get("db_statements_evicted"):
            lines += [RULE, f"{r['size']} nodes, {r['method']}: PostgreSQL evicted "
                      f"{r['summary']['db_statements_evicted']} pg_stat_statements entries during measured "
                      "cycles: SQL counts are too low (raise pg_stat_statements.max)", RULE]
    lines += _extras(doc)
    return "\n".join(lines)


def _counts_text(counts: dict[str, float], skip_zero: bool = False) -> str:
    shown = [f"{v:g} {k.replace('_', '-')}" for k, v in counts.items() if v or not skip_zero]
    return ", ".join(shown) or "none"


def _out_of_band(o: dict[str, Any]) -> str:
    text = (f"out-of-band power changes corrected within one cycle: {o['corrected_on_bmc']}/{o['flipped']} "
            f"(Ironic kept its state on {o['ironic_kept_state']})")
    if o.get("correction_summary"):
        text += (f"; change to corrective power action {spread_text(o['correction_summary'], '.2f')} s, "
                 f"of which after its cycle started {spread_text(o['after_cycle_start_summary'], '.2f')} s")
    missing = sum(t is None for t in o.get("correction_seconds", []))
    if missing:
        text += f"; {missing} with no power action after the change"
    return text


def _extras(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for r in doc["rows"]:
        rec, tag, s = r["record"], f"{r['size']} nodes, {r['method']}", r["summary"]
        if s.get("db_transactions_per_node"):
            out.append(f"{tag}: PostgreSQL per node per cycle: "
                       f"{spread_text(s['db_transactions_per_node'], '.2f')} transactions, "
                       f"{spread_text(s['db_rows_read_per_node'], '.0f')} rows read")
        if s.get("db_statements_per_cycle"):
            out.append(f"{tag}: SQL statements per cycle {spread_text(s['db_statements_per_cycle'], '.0f')}, "
                       f"per node {spread_text(s['db_statements_per_node'], '.2f')}; medians by kind: "
                       f"{_counts_text(s['db_statements_by_kind'], skip_zero=True)}")
        if s.get("node_classes"):
            out.append(f"{tag}: bulk power sync, nodes per cycle (medians, from the conductor's log): "
                       f"{_counts_text(s['node_classes'])}")
        checks = rec.get("checks") or {}
        if "out_of_band" in checks:
            out.append(f"{tag}: {_out_of_band(checks['out_of_band'])}")
        if "dead" in checks:
            d = checks["dead"]
            out.append(f"{tag}: dead BMCs in maintenance: {d['in_maintenance']}/{d['dead']} "
                       f"(faults {d['faults']}), live nodes in maintenance: {d['live_in_maintenance']}; "
                       f"cycle with dead nodes {d['cycle_runtime_with_dead']} s, without "
                       f"{d['cycle_runtime_without_dead']} s")
        if rec.get("api_load"):
            for name, row in rec["api_load"]["rows"].items():
                out.append(f"{tag}: API {name}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
                           f"p99 {row['p99_ms']} ms, {row['requests']} requests, "
                           f"{row['failure_rate']:.1%} failed")
        if rec.get("profile"):
            p = rec["profile"]
            out.append(f"{tag}: flame graph {p['path']}" if p.get("path") else
                       f"{tag}: no flame graph: {p.get('error')}")
    return [""] + out if out else []


def plot(doc: dict[str, Any], path: str) -> str:
    panels = PANELS + (SQL_PANEL if any(r["summary"].get("db_statements_per_node") for r in doc["rows"])
                       else ())
    return bench_plot.plot(doc, path, panels=panels, x_label="nodes (one conductor)", colours=COLOURS,
                           title=f"ironic-scale density, {doc['started']}: medians of sync cycles "
                                 "(bars: min-max)")
