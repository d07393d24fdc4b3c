"""The result document: raw figures of every sweep, medians with min/max, ratios, and context.

Context (versions, machine, settings) is recorded so that two result files
from before and after an upgrade can be compared knowing what changed
besides the software. Ratios are always between rows of the same run.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
from typing import Any

from ironic_scale.bench.runner import Outcome, Row

SCHEMA = 1
# Figures summarised per row as median/min/max over its sweeps.
FIGURES = ("wall_seconds", "cpu_ms_per_node", "sim_cpu_ms_per_node", "rss_mib",
           "tool_rss_mib", "rss_growth_mib", "failed", "missed", "wrong", "on", "off",
           "success_pct", "slots_max", "slots_max_active", "slots_left_open", "slots_refused")
BASELINES = ("ipmitool", "ipmipower")


def spread(values: list[float]) -> dict[str, float] | None:
    """Median, min and max; None when there is nothing to summarise."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _slots_record(slots: dict[str, Any] | None) -> dict[str, Any]:
    """A sweep's session slots per BMC, from the simulator (None: real BMCs, not known)."""
    if slots is None:
        return {k: None for k in ("slots_max", "slots_max_active", "slots_peaks",
                                  "slots_active_peaks", "slots_left_open", "slots_refused")}
    return {"slots_max": slots["max"], "slots_max_active": slots["max_active"],
            "slots_peaks": slots["peaks"], "slots_active_peaks": slots["active_peaks"],
            "slots_left_open": slots["held"], "slots_refused": slots["no_slot"]}


def _run_record(row: Row, i: int) -> dict[str, Any]:
    s, v = row.sweeps[i], row.verdicts[i]
    return {
        "repeat": i + 1, "nodes": s.nodes, "wall_seconds": s.wall_seconds,
        "cpu_seconds": s.cpu_seconds, "cpu_ms_per_node": s.cpu_ms_per_node,
        "sim_cpu_seconds": s.sim_cpu_seconds,
        "sim_cpu_ms_per_node": None if s.sim_cpu_seconds is None
        else 1000.0 * s.sim_cpu_seconds / s.nodes,
        "in_process": s.in_process, "rss_mib": s.rss_mib,
        "tool_rss_mib": None if s.tool_rss_kib is None else s.tool_rss_kib / 1024,
        "rss_growth_mib": s.rss_growth_kib / 1024,
        "on": v.on, "off": v.off, "failed": v.failed, "missed": v.missed, "wrong": v.wrong,
        "success_pct": 100.0 * (v.on + v.off) / s.nodes if s.nodes else None,
        **_slots_record(row.slots[i] if i < len(row.slots) else None),
        "checked": v.checked, "correct": v.ok if v.checked else None, "examples": v.examples,
        "failure_reasons": v.reasons,
    }


def _row_record(row: Row) -> dict[str, Any]:
    runs = [_run_record(row, i) for i in range(len(row.sweeps))]
    checked = bool(runs) and runs[0]["checked"]
    polled = sum(r["nodes"] for r in runs)
    slots = [r["slots_max"] for r in runs if r["slots_max"] is not None]
    active = [r["slots_max_active"] for r in runs if r["slots_max_active"] is not None]
    return {
        "size": row.size, "fault": row.fault, "method": row.method,
        "runs_planned": row.planned, "runs_done": len(runs),
        "in_process": runs[0]["in_process"] if runs else None,
        "correct": all(r["correct"] for r in runs) if checked else None,
        # Over the whole row: answered / polled, and the most slots any BMC held in any sweep.
        "success_pct": (100.0 * sum(r["on"] + r["off"] for r in runs) / polled) if polled else None,
        "slots_max": max(slots) if slots else None,
        "slots_max_active": max(active) if active else None,
        "summary": {f: spread([r[f] for r in runs]) for f in FIGURES},
        "runs": runs,
    }


def _median(row: dict[str, Any], figure: str) -> float | None:
    s = row["summary"].get(figure)
    return s["median"] if s else None


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``ratios[f"{figure}_{base}_over_this"]``: how many times cheaper than the baseline,
    from medians of the same (size, fault) in this run; absent when the baseline is."""
    groups: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["size"], r["fault"]), {})[r["method"]] = r
    for group in groups.values():
        for r in group.values():
            r["ratios"] = {}
            for base in BASELINES:
                if base not in group:
                    continue
                for figure in ("cpu_ms_per_node", "wall_seconds"):
                    b, t = _median(group[base], figure), _median(r, figure)
                    r["ratios"][f"{figure}_{base}_over_this"] = b / t if b and t else None


def _first_line(argv: list[str]) -> str | None:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (res.stdout or res.stderr).strip().splitlines()
    return out[0] if out else None


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {
        "ironic-scale": _dist_version("ironic-scale"), "ironic": _dist_version("ironic"),
        "pyghmi": _dist_version("pyghmi"), "futurist": _dist_version("futurist"),
        "ipmitool": _first_line(["ipmitool", "-V"]),
        "ipmipower": _first_line(["ipmipower", "--version"]),
        "python": sys.version.split()[0], "python_implementation": platform.python_implementation(),
    }


def machine() -> dict[str, Any]:
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = None
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    u = platform.uname()
    return {"cores": os.cpu_count(), "cpu_model": model, "kernel": u.release,
            "system": u.system, "arch": u.machine, "memory_mib": mem_kib and mem_kib // 1024,
            "hostname": u.node}


def document(outcome: Outcome, settings: dict[str, Any], mode: str, started: datetime.datetime,
             finished: datetime.datetime) -> dict[str, Any]:
    rows = [_row_record(r) for r in outcome.rows]
    add_ratios(rows)
    failures = [
        {"size": r["size"], "fault": r["fault"], "method": r["method"], "repeat": run["repeat"],
         "missed": run["missed"], "wrong": run["wrong"], "examples": run["examples"]}
        for r in rows for run in r["runs"] if run["correct"] is False]
    writes = [f for f in outcome.fleets if any(f["writes"].values())]
    return {
        "schema": SCHEMA, "tool": "ironic-scale bench", "mode": mode,
        "interrupted": outcome.interrupted,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "versions": versions(), "machine": machine(), "settings": settings,
        "rows": rows, "correctness_failures": failures, "fleets": outcome.fleets,
        "write_requests_seen": writes, "profile": outcome.profile,
    }


def default_json_path(now: datetime.datetime, directory: str = "results", kind: str = "bench") -> str:
    return os.path.join(directory, f"{kind}-{now.strftime('%Y%m%d-%H%M%S')}.json")


def sibling(json_path: str, suffix: str) -> str:
    """A path next to the JSON file: results/bench-X.json -> results/bench-X{suffix}."""
    stem = json_path[:-5] if json_path.endswith(".json") else json_path
    return stem + suffix


def write(doc: dict[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def load(path: str) -> dict[str, Any]:
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or "rows" not in doc:
        raise ValueError(f"{path} is not an ironic-scale bench result (no 'rows')")
    return doc
