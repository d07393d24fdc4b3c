"""The density test's result document, terminal table and plot.

The table is rendered from the saved document, so it shows exactly what the
JSON holds; ratios are taken between the drivers of the same run and fleet.
"""

from __future__ import annotations

import datetime
from typing import Any

from ironic_scale.bench import plot as bench_plot
from ironic_scale.bench import results
from ironic_scale.bench.report import RULE, ratio, spread_text

DEFAULT_INTERVAL = 120  # Ironic's [conductor]sync_power_state_interval default
PANELS = (("conductor_cpu_ms_per_node", "conductor CPU per node per sync cycle (ms)"),
          ("cycle_seconds", "power sync cycle time (s)"))


def _row(record: dict[str, Any]) -> dict[str, Any]:
    cycles = record.get("cycles", [])
    size = record["size"]

    def per_node(key: str) -> list[float]:
        return [c[key] * 1000 / size for c in cycles if c.get(key) is not None]

    return {
        "size": size, "method": record["driver"], "fault": "none", "cycles": len(cycles),
        "summary": {
            "cycle_seconds": results.spread([c["runtime"] for c in cycles]),
            "conductor_cpu_ms_per_node": results.spread(per_node("conductor_cpu_seconds")),
            "sim_cpu_ms_per_node": results.spread(per_node("sim_cpu_seconds")),
            "polled_min": min((c["polled"] for c in cycles), default=None),
            # PostgreSQL only: pg_stat_database counts within each cycle, per node.
            "db_transactions_per_node": results.spread(
                [c["db_transactions"] / size for c in cycles if c.get("db_transactions") is not None]),
            "db_rows_read_per_node": results.spread(
                [c["db_rows_read"] / size for c in cycles if c.get("db_rows_read") is not None]),
        },
        "expected": cycles[0]["expected"] if cycles else None,
        "missed_live": sum(c["missed_live"] for c in cycles),
        "rss_mib": record.get("rss_mib", {}),
        "record": record,
    }


def document(records: list[dict[str, Any]], settings: dict[str, Any],
             started: datetime.datetime) -> dict[str, Any]:
    rows = [_row(r) for r in records]
    for row in rows:
        base = next((r for r in rows if r["size"] == row["size"] and r["method"] == "ipmi"), None)
        mine, theirs = (row["summary"]["conductor_cpu_ms_per_node"],
                        base and base["summary"]["conductor_cpu_ms_per_node"])
        row["cpu_vs_ipmi"] = mine["median"] / theirs["median"] if mine and theirs else None
    return {"kind": "ironic-scale density", "started": started.isoformat(timespec="seconds"),
            "settings": settings, "versions": results.versions(), "machine": results.machine(),
            "rows": rows}


def render(doc: dict[str, Any]) -> str:
    settings = doc["settings"]
    lines = [
        f"ironic-scale density, {doc['started']}: a real Ironic {doc['versions'].get('ironic')} "
        f"({settings['db']}, one conductor), sync interval {settings['sync_interval']} s, "
        f"{doc['machine'].get('cores')} cores",
        "Cycle time from Ironic's log; polled nodes from the simulator; conductor CPU is its "
        "worker process, children included, within each cycle; simulator CPU shown separately.",
        "",
        f"{'nodes':>6} {'driver':<12} {'cyc':>3} {'cycle s med (min-max)':>24} "
        f"{'CPU ms/node med (min-max)':>26} {'vs ipmi':>8} {'sim ms/node':>11} "
        f"{'polled':>13} {'RSS MiB':>8} {'of 120 s':>8}",
    ]
    for r in doc["rows"]:
        s = r["summary"]
        polled = f"{s['polled_min']}/{r['expected']}" if s["polled_min"] is not None else "-"
        cyc = s["cycle_seconds"]
        share = f"{cyc['median'] / DEFAULT_INTERVAL:.0%}" if cyc else "-"
        lines.append(
            f"{r['size']:>6} {r['method']:<12} {r['cycles']:>3} {spread_text(cyc, '.2f'):>24} "
            f"{spread_text(s['conductor_cpu_ms_per_node'], '.3f'):>26} {ratio(r['cpu_vs_ipmi']):>8} "
            f"{spread_text(s['sim_cpu_ms_per_node'], '.3f').split(' ')[0]:>11} {polled:>13} "
            f"{r['rss_mib'].get('conductor', '-'):>8} {share:>8}")
    singles = sorted({r["size"] for r in doc["rows"] if r["cycles"] == 1})
    if singles:
        lines.append(f"(one cycle only at {', '.join(map(str, singles))} nodes where 'cyc' is 1: "
                     "ipmitool takes many minutes per cycle there)")
    missed = [r for r in doc["rows"] if r["missed_live"]]
    for r in missed:
        ex = r["record"]["cycles"][0].get("missed_live_examples")
        lines += [RULE, f"{r['size']} nodes, {r['method']}: {r['missed_live']} live nodes not polled "
                  f"in a measured cycle (e.g. {ex})", RULE]
    lines += _extras(doc)
    return "\n".join(lines)


def _extras(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for r in doc["rows"]:
        rec, tag = r["record"], f"{r['size']} nodes, {r['method']}"
        if r["summary"].get("db_transactions_per_node"):
            out.append(f"{tag}: PostgreSQL per node per cycle: "
                       f"{spread_text(r['summary']['db_transactions_per_node'], '.2f')} transactions, "
                       f"{spread_text(r['summary']['db_rows_read_per_node'], '.0f')} rows read")
        checks = rec.get("checks") or {}
        if "out_of_band" in checks:
            o = checks["out_of_band"]
            out.append(f"{tag}: out-of-band power changes corrected within one cycle: "
                       f"{o['corrected_on_bmc']}/{o['flipped']} (Ironic kept its state on "
                       f"{o['ironic_kept_state']})")
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
    return bench_plot.plot(doc, path, panels=PANELS, x_label="nodes (one conductor)",
                           title=f"ironic-scale density, {doc['started']}: medians of sync cycles "
                                 "(bars: min-max)")
