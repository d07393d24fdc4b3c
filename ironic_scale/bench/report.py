"""The terminal report, rendered from the result document (so it shows exactly what is saved)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RULE = "!" * 78


def ratio(x: float | None) -> str:
    if not x:
        return "-"
    if x >= 10:
        return f"{x:.0f}x"
    if x >= 1:
        return f"{x:.1f}x"
    return f"{x:.3f}x"


def spread_text(s: dict[str, float] | None, fmt: str) -> str:
    """'median (min-max)' of a spread from results.spread, or '-'."""
    if not s:
        return "-"
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def _max(s: dict[str, float] | None) -> str:
    return "-" if not s else f"{s['max']:.0f}"


def _rss(row: dict[str, Any]) -> str:
    s = row["summary"]["rss_mib"]
    if not s:
        return "-"
    # In-process: the largest growth, which is the first sweep's (from before the first
    # login to all sessions warm); later sweeps of the run reuse memory the allocator kept.
    return f"+{s['max']:.1f}" if row["in_process"] else f"{s['median']:.1f} child"


def _slots(row: dict[str, Any]) -> str:
    """'all (established)': the most session slots one BMC held in any of the row's sweeps."""
    if row.get("slots_max") is None:
        return "-"
    return f"{row['slots_max']} ({row['slots_max_active']})"


def _success(row: dict[str, Any]) -> str:
    pct = row.get("success_pct")
    return "-" if pct is None else f"{pct:.1f}"


def _label(row: dict[str, Any], repeats: int) -> str:
    n = row["runs_done"]
    return row["method"] if n >= repeats else f"{row['method']} ({n} run{'s' if n > 1 else ''})"


def _table(rows: list[dict[str, Any]], repeats: int, simulated: bool) -> list[str]:
    if simulated:
        head = (f"{'method':<22} {'failed':>6} {'missed':>6} {'wrong':>5} {'slots max':>9} "
                f"{'success %':>9} {'sweep s (min-max)':>25} "
                f"{'CPU ms/node (min-max)':>24} {'ipmitool/this':>13} {'ipmipower/this':>14} "
                f"{'RSS MiB':>10} {'sim CPU ms/node':>22}")
    else:
        head = (f"{'method':<22} {'on':>6} {'off':>6} {'failed':>6} {'success %':>9} "
                f"{'sweep s (min-max)':>25} "
                f"{'CPU ms/node (min-max)':>24} {'ipmitool/this':>13} {'ipmipower/this':>14} "
                f"{'RSS MiB':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        s, q = r["summary"], r.get("ratios", {})
        cols = ([_max(s["failed"]), _max(s["missed"]), _max(s["wrong"])] if simulated
                else [_max(s["on"]), _max(s["off"]), _max(s["failed"])])
        extra = f"{_slots(r):>9} {_success(r):>9}" if simulated else f"{_success(r):>9}"
        line = (f"{_label(r, repeats):<22} {cols[0]:>6} {cols[1]:>6} {cols[2]:>{5 if simulated else 6}} "
                f"{extra} {spread_text(s['wall_seconds'], '.2f'):>25} "
                f"{spread_text(s['cpu_ms_per_node'], '.3f'):>24} "
                f"{ratio(q.get('cpu_ms_per_node_ipmitool_over_this')):>13} "
                f"{ratio(q.get('cpu_ms_per_node_ipmipower_over_this')):>14} {_rss(r):>10}")
        if simulated:
            line += f" {spread_text(s['sim_cpu_ms_per_node'], '.3f'):>22}"
        lines.append(line)
    return lines


def _reasons(rows: list[dict[str, Any]]) -> list[str]:
    """Why nodes failed in each method's last sweep (dead BMCs included)."""
    lines = []
    for r in rows:
        reasons = r["runs"][-1].get("failure_reasons") if r["runs"] else None
        if reasons:
            why = "; ".join(f"{n} x {text}" for text, n in reasons.items())
            lines.append(f"  failed in {r['method']}'s last sweep: {why}")
    return lines


def _histogram_text(peaks: dict[str, int]) -> str:
    return ", ".join(f"{n} at {k}" for k, n in peaks.items() if k != "0") or "none"


def _slot_notes(rows: list[dict[str, Any]]) -> list[str]:
    """Where a method held more than one slot on a BMC, left sessions open or was refused
    one: its worst sweep's distribution of BMCs by the slots they held at most."""
    lines = []
    for r in rows:
        runs = [run for run in r["runs"] if run.get("slots_max") is not None]
        if not runs:
            continue
        worst = max(runs, key=lambda run: (run["slots_max"], sum(
            n for k, n in run["slots_peaks"].items() if int(k) > 1)))
        left = max(run["slots_left_open"] for run in runs)
        refused = max(run["slots_refused"] for run in runs)
        if worst["slots_max"] <= 1 and not left and not refused:
            continue
        lines.append(f"  slots in {r['method']}'s worst sweep ({worst['repeat']}), BMCs by most "
                     f"slots held: {_histogram_text(worst['slots_peaks'])}; established only: "
                     f"{_histogram_text(worst['slots_active_peaks'])}; left open after its "
                     f"logout: {left}; Open Session refused for want of a slot: {refused} "
                     "(worst sweep of each)")
    return lines


def _slot_summary(doc: dict[str, Any], size: int) -> list[str]:
    """Per fault mix: slots max (established) and success %, with the goal against ipmitool."""
    faults, rows, lines = _mix_table(
        doc, size, f"session slots and success at {size} BMCs: slots max (established) / success %",
        18, lambda r: f"{_slots(r)} / {_success(r)}")
    for m in ("native", "native-interface"):
        if not any(k[0] == m for k in rows):
            continue
        mine = [rows[m, f] for f in faults if (m, f) in rows]
        worst = max((r["slots_max"] or 0 for r in mine), default=0)
        one = "yes" if worst <= 1 else f"NO (up to {worst})"
        text = f"{m}: at most 1 slot per BMC in every mix: {one}"
        pairs = [(rows[m, f], rows["ipmitool", f]) for f in faults
                 if (m, f) in rows and ("ipmitool", f) in rows]
        if pairs:
            worse = [f"{a['fault']} {a['success_pct']:.1f} < {b['success_pct']:.1f}" for a, b in pairs
                     if a["success_pct"] is not None and b["success_pct"] is not None
                     and a["success_pct"] < b["success_pct"]]
            text += ("; success % no worse than ipmitool's in every mix: "
                     + ("yes" if not worse else f"NO ({', '.join(worse)})"))
        lines.append(text)
    return lines


def _fault_summary(doc: dict[str, Any], size: int) -> list[str]:
    def cell(r: dict[str, Any]) -> str:
        return f"{r['summary']['wall_seconds']['median']:.2f} {'ok' if r['correct'] else 'FAIL'}"

    return _mix_table(doc, size, f"fault mixes at {size} BMCs: median sweep s, and whether every "
                      "healthy node answered correctly", 14, cell)[2]


def _mix_table(doc: dict[str, Any], size: int, title: str, width: int,
               cell: Callable[[dict[str, Any]], str]) -> tuple[list[str], dict, list[str]]:
    """A method x fault-mix table at one size: (faults, rows by (method, fault), lines)."""
    faults = doc["settings"]["faults"]
    rows = {(r["method"], r["fault"]): r for r in doc["rows"] if r["size"] == size}
    head = f"{'method':<17}" + "".join(f" {f:>{width}}" for f in faults)
    lines = [title, head, "-" * len(head)]
    for m in dict.fromkeys(m for m, _ in rows):
        cells = [cell(rows[m, f]) if (m, f) in rows else "-" for f in faults]
        lines.append(f"{m:<17}" + "".join(f" {c:>{width}}" for c in cells))
    return faults, rows, lines


def _failures(doc: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if doc["correctness_failures"]:
        lines += ["", RULE, "CORRECTNESS FAILURE: healthy BMCs missed or answered wrong "
                  "(or dead BMCs reported a state)"]
        for f in doc["correctness_failures"]:
            lines.append(f"  {f['size']} BMCs, faults {f['fault']}, {f['method']} sweep "
                         f"{f['repeat']}: {f['missed']} missed, {f['wrong']} wrong")
            lines += [f"      {e}" for e in f["examples"]]
        lines.append(RULE)
    for f in doc["write_requests_seen"]:
        lines += ["", RULE, f"WRITE REQUESTS REACHED THE SIMULATOR ({f['size']} BMCs, faults "
                  f"{f['fault']}): {f['writes']}", RULE]
    return lines


def render(doc: dict[str, Any]) -> str:
    settings = doc["settings"]
    repeats = settings["repeats"]
    simulated = doc["mode"] == "simulator"
    out: list[str] = []
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in doc["rows"]:
        groups.setdefault((r["size"], r["fault"]), []).append(r)
    for (size, fault), rows in groups.items():
        where = f"faults: {fault}" if simulated else "real BMCs, read-only"
        out += [f"{size} BMCs, {where}", *_table(rows, repeats, simulated), *_reasons(rows),
                *_slot_notes(rows), ""]
    if simulated and len(settings["faults"]) > 1:
        for size in dict.fromkeys(r["size"] for r in doc["rows"]):
            out += [*_fault_summary(doc, size), "", *_slot_summary(doc, size), ""]
    sweeps = "1 sweep" if repeats == 1 else f"{repeats} sweeps"
    out.append(f"Medians of {sweeps} (min-max); CPU is the client's, forked children "
               "included. ipmitool/this, ipmipower/this: client CPU per node of the baseline")
    out.append("divided by this method's, same run. RSS: 'child' = one forked tool's own peak RSS "
               "(an extra untimed run under GNU time: ipmitool")
    out.append("for one node, ipmipower for one batch of up to 1,000); '+' = growth of this "
               "process's peak RSS over login and sweep (in-process methods), the largest of the")
    out.append("row's sweeps: the first, from before the first login to all sessions warm (later "
               "sweeps reuse memory the allocator kept).")
    if simulated:
        out.append("sim CPU: the simulator's own processes during the timed sweep, per node. "
                   "missed = healthy BMCs without an answer.")
        out.append("slots max: the most session slots one BMC held at once in any sweep (login, "
                   "poll and logout; half-open handshakes count, as on real BMCs),")
        out.append("in brackets established sessions only; each sweep starts on BMCs holding "
                   "none. success % = answered / polled, all sweeps (dead BMCs included).")
    else:
        out.append("success % = answered / polled, all sweeps.")
    if any(r["runs_done"] < repeats for r in doc["rows"]):
        out.append("(1 run): capped by --ipmitool-max-repeats (default: 1 above 5,000 BMCs).")
    if simulated and not doc["correctness_failures"]:
        total = sum(r["runs_done"] for r in doc["rows"])
        out.append(f"Correctness: every healthy BMC answered with its true state, every dead one "
                   f"failed, in all {total} sweeps.")
    if not simulated:
        out.append("Read-only: only Get Chassis Status and Get Device ID (plus session setup) "
                   "were sent; true states unknown, so states seen are counted.")
    if doc.get("interrupted"):
        out.append("INTERRUPTED (Ctrl-C): partial results; each row shows the sweeps it finished.")
    out += _failures(doc)
    return "\n".join(out)
