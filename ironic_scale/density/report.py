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
# With several conductor counts: nodes synced per second across the cluster.
THROUGHPUT_PANEL = (("sync_nodes_per_second", "sync throughput (nodes/s, all conductors)"),)
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

    names = list(dict.fromkeys(n for c in cycles for n in c.get("per_conductor", {})))
    return {
        "size": size, "method": record["driver"], "fault": "none", "cycles": len(cycles),
        "conductors": record.get("conductors", 1),  # records before conductor counts had one
        "summary": {
            "cycle_seconds": results.spread([c["runtime"] for c in cycles]),
            # Every node over the slowest conductor's cycle, per round.
            "sync_nodes_per_second": results.spread([c.get("sync_nodes_per_second") or size / c["runtime"]
                                                     for c in cycles if c["runtime"] > 0]),
            # Each conductor's own cycle times (its log), by process name.
            "conductor_cycle_seconds": {n: results.spread([c["per_conductor"][n]["runtime"] for c in cycles
                                                           if n in c.get("per_conductor", {})])
                                        for n in names},
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
        "rss_mib_processes": record.get("rss_mib_processes", {}),
        "placement": _placement_summary(record.get("placement")),
        "record": record,
    }


def _placement_summary(p: dict[str, Any] | None) -> dict[str, Any] | None:
    """The polled-by-whom check's counts (None: not checked, e.g. the ipmitool series)."""
    if not p:
        return None
    keys = ("checked", "exact", "wrong_conductor", "two_conductors", "missed", "miscounted",
            "held_by_another_conductor", "ok")
    return {k: p.get(k) for k in keys} | {"inexact_windows": len(p.get("inexact_windows") or [])}


def _vs(rows: list[dict[str, Any]], row: dict[str, Any], base_method: str) -> float | None:
    """Conductor CPU per node of ``row`` over that of ``base_method`` at the same size and
    conductor count."""
    base = next((r for r in rows if r["size"] == row["size"] and r["method"] == base_method
                 and r.get("conductors", 1) == row.get("conductors", 1)), None)
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


def _shape(doc: dict[str, Any]) -> str:
    counts = sorted({r.get("conductors", 1) for r in doc["rows"]})
    settings = doc["settings"]
    if counts == [1]:
        return f"{settings['db']}, one conductor"
    per_host = settings.get("per_host", 1)
    rpc = settings.get("rpc")
    return (f"{settings['db']}{', ' + rpc if rpc and rpc != 'none' else ''}, "
            f"{'/'.join(map(str, counts))} conductors" + (f", {per_host} per host" if per_host > 1 else ""))


def _rss_each_conductor(r: dict[str, Any]) -> Any:
    """The largest conductor worker's peak RSS (one conductor: the old ``RSS`` figure)."""
    procs = r.get("rss_mib_processes") or {}
    mine = [v for k, v in procs.items() if not k.startswith("api")]
    return max(mine) if mine else r["rss_mib"].get("conductor", "-")


def render(doc: dict[str, Any]) -> str:
    settings = doc["settings"]
    width = max([12, *(len(r["method"]) for r in doc["rows"])])
    cores = doc["machine"].get("cores")
    most = max((r.get("conductors", 1) for r in doc["rows"]), default=1)
    several = most > 1  # the conductor columns: one conductor keeps the table it always had
    lines = [
        f"ironic-scale density, {doc['started']}: a real Ironic {doc['versions'].get('ironic')} "
        f"({_shape(doc)}), sync interval {settings['sync_interval']} s, {cores} cores",
        ("Cycle time from Ironic's log (with several conductors: the slowest conductor's cycle of each "
         "round); nodes/s: all nodes over that; polled nodes from the simulator; conductor CPU is every "
         "conductor's worker process, children included, within its own cycle, summed; "
         if several else
         "Cycle time from Ironic's log; polled nodes from the simulator; conductor CPU is its "
         "worker process, children included, within each cycle; ")
        + "simulator CPU shown separately; SQL: statements the stack's database ran within each cycle "
          "(pg_stat_statements).",
        "",
        f"{'nodes':>6} " + (f"{'cond':>4} " if several else "") + f"{'driver':<{width}} {'cyc':>3} "
        f"{'cycle s med (min-max)':>24} " + (f"{'nodes/s':>8} " if several else "")
        + f"{'CPU ms/node med (min-max)':>26} {'vs ipmi':>8} {'vs native':>9} {'sim ms/node':>11} "
        f"{'polled':>13} " + (f"{'owner ok':>11} " if several else "")
        + f"{'SQL/cycle':>9} {'RSS MiB':>8} {'of 120 s':>8}",
    ]
    for r in doc["rows"]:
        s = r["summary"]
        polled = f"{s['polled_min']}/{r['expected']}" if s["polled_min"] is not None else "-"
        cyc = s["cycle_seconds"]
        share = f"{cyc['median'] / DEFAULT_INTERVAL:.0%}" if cyc else "-"
        sql = f"{s['db_statements_per_cycle']['median']:.0f}" if s.get("db_statements_per_cycle") else "-"
        rate = s.get("sync_nodes_per_second")
        rate_text = f"{rate['median']:.0f}" if rate else "-"
        p = r.get("placement")
        owner = f"{p['exact']}/{p['checked']}" if p else "-"
        lines.append(
            f"{r['size']:>6} " + (f"{r.get('conductors', 1):>4} " if several else "")
            + f"{r['method']:<{width}} {r['cycles']:>3} {spread_text(cyc, '.2f'):>24} "
            + (f"{rate_text:>8} " if several else "")
            + f"{spread_text(s['conductor_cpu_ms_per_node'], '.3f'):>26} {ratio(r.get('cpu_vs_ipmi')):>8} "
            f"{ratio(r.get('cpu_vs_native')):>9} "
            f"{spread_text(s['sim_cpu_ms_per_node'], '.3f').split(' ')[0]:>11} {polled:>13} "
            + (f"{owner:>11} " if several else "")
            + f"{sql:>9} {_rss_each_conductor(r):>8} {share:>8}")
    if several:
        lines.append("(owner ok: nodes read exactly once per measured cycle, by their predicted conductor "
                     "alone (the simulator, by source address); RSS: the largest conductor worker; "
                     "'-': not checked (ipmitool sends from no source address of ours))")
    if most > 1 and cores and most > cores:
        lines.append(f"(this machine has {cores} CPU cores, shared by every conductor, the API, the database "
                     f"and the simulator: beyond {cores} conductors more conductors cannot sync faster here, "
                     "and the rows above that show contention, not scale-out across hosts)")
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


def _tag(r: dict[str, Any]) -> str:
    n = r.get("conductors", 1)
    return f"{r['size']} nodes, {r['method']}" + (f", {n} conductors" if n > 1 else "")


def _conductor_lines(r: dict[str, Any], tag: str) -> list[str]:
    """Several conductors: each one's cycle times and RSS, API workers' RSS, and who polled what."""
    if r.get("conductors", 1) <= 1:
        return []
    rec, s = r["record"], r["summary"]
    procs = {p["name"]: p for p in rec.get("conductor_processes", [])}
    rss = r.get("rss_mib_processes") or {}
    each = []
    for name, spread in (s.get("conductor_cycle_seconds") or {}).items():
        p = procs.get(name, {})
        nodes = f", {p['predicted_nodes']} nodes" if p.get("predicted_nodes") is not None else ""
        each.append(f"{p.get('registered_name') or name} ({p.get('source_address', '?')}{nodes}) "
                    f"{spread_text(spread, '.2f')} s, {rss.get(name, '-')} MiB")
    out = [f"{tag}: per conductor, cycle s med (min-max) and peak RSS: " + "; ".join(each)]
    api = {k: v for k, v in rss.items() if k.startswith("api")}
    if api:
        out.append(f"{tag}: API worker peak RSS MiB: "
                   + ", ".join(f"{k} {v}" for k, v in sorted(api.items())))
    window = rec.get("window") or {}
    if window.get("conductor_cpu_ms_per_node_per_cycle") is not None:
        out.append(f"{tag}: all conductors' CPU over the whole measured window (gaps between cycles "
                   f"included): {window['conductor_cpu_ms_per_node_per_cycle']:.3f} ms per node per cycle")
    p = r.get("placement")
    if p:
        out.append(f"{tag}: polled by whom (simulator, by source address): {p['exact']}/{p['checked']} "
                   f"exactly once per cycle by the predicted conductor; wrong conductor "
                   f"{p['wrong_conductor']}, two conductors {p['two_conductors']}, missed {p['missed']}, "
                   f"miscounted {p['miscounted']}; "
                   f"sessions held by another conductor {p['held_by_another_conductor']}"
                   + (f"; {p['inexact_windows']} window(s) read late" if p["inexact_windows"] else ""))
    pred = rec.get("prediction")
    if pred:
        out.append(f"{tag}: hash ring (exponent {pred['settings']['exponent']}, "
                   f"{pred['settings']['algorithm']}): {pred['api_agrees']}/{pred['nodes']} predicted owners "
                   "equal the API's 'conductor' when read")
    return out


def _extras(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for r in doc["rows"]:
        rec, tag, s = r["record"], _tag(r), r["summary"]
        out += _conductor_lines(r, tag)
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
    """One line per series and conductor count (the count is in the label when there are several)."""
    counts = {r.get("conductors", 1) for r in doc["rows"]}
    several = len(counts) > 1 or counts != {1}
    panels = PANELS + (THROUGHPUT_PANEL if several else ()) + (
        SQL_PANEL if any(r["summary"].get("db_statements_per_node") for r in doc["rows"]) else ())
    colours = dict(COLOURS)
    shown = doc
    if several:
        rows = []
        for r in doc["rows"]:
            label = f"{r['method']} x{r.get('conductors', 1)}"
            rows.append({**r, "method": label})
            colours.pop(label, None)  # bench_plot gives each label the next free colour
        shown = {**doc, "rows": rows}
    x_label = "nodes (one conductor)" if not several else "nodes (series x conductors)"
    return bench_plot.plot(shown, path, panels=panels, x_label=x_label, colours=colours,
                           title=f"ironic-scale density, {doc['started']}: medians of sync cycles "
                                 "(bars: min-max)")
