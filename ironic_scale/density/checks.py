"""Correctness under load, on the live stack after the measured cycles.

- An out-of-band power change on the simulator is corrected (Ironic's default
  ``force_power_state_during_sync``) by the first cycle that starts after it,
  and timed: from the change to the corrective Chassis Control reaching the
  simulated BMC (both stamped by the simulator), and from the start of the
  cycle that sent it (the wait for that cycle is the sync interval's doing,
  the rest is the sync's).
- Dead BMCs lead to Ironic's retries, then maintenance with fault
  ``power failure``; meanwhile every live node is still polled in every cycle,
  and a cycle with dead nodes in it takes at most one per-node deadline longer
  than one without (the dead nodes are tried first, in parallel workers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ironic_scale.bench.results import spread
from ironic_scale.density.cycles import CycleWatcher
from ironic_scale.density.procstat import Sampler

if TYPE_CHECKING:
    from ironic_scale.density.runner import DriverRun, RoundWatcher


def _node_keys(run: "DriverRun") -> dict[str, dict[str, Any]]:
    """BMC key (address:port) -> node, over REST."""
    out = {}
    for node in run.stack.client.nodes():
        info = node["driver_info"]
        out[f"{info['ipmi_address']}:{int(info.get('ipmi_port') or 623)}"] = node
    return out


def correction(state: dict[str, Any], cycles: list[dict[str, Any]]) -> dict[str, Any]:
    """When the first Chassis Control after a BMC's latest out-of-band change arrived.

    ``state`` is the simulator's ``state`` of that BMC; ``cycles`` are cycle records (start,
    end). Returns ``seconds`` (change to control), ``action``, and ``after_cycle_start`` (from
    the start of the cycle that was running then), each None when no control came.
    """
    changed = state.get("out_of_band_at")
    after = [(t, a) for t, a in state.get("power_log", []) if changed is not None and t >= changed]
    if not after:
        return {"seconds": None, "action": None, "after_cycle_start": None}
    at, action = min(after)
    cycle = next((c for c in cycles if c["start"] <= at <= c["end"] + 0.01), None)  # log: ms precision
    return {"seconds": round(at - changed, 3), "action": action,
            "after_cycle_start": round(at - cycle["start"], 3) if cycle else None}


def run_checks(run: "DriverRun", watcher: "CycleWatcher | RoundWatcher", sampler: Sampler, timeout: float,
               alive: Callable[[], bool]) -> dict[str, Any]:
    result: dict[str, Any] = {"cycles": []}

    def next_cycle() -> dict[str, Any]:
        rec = run._cycle_record(watcher.next_cycle(timeout, alive), sampler)
        result["cycles"].append(rec)
        return rec

    flips = [e for e in run.endpoints if not e.dead][: run.plan.flips]
    if flips:
        flipped_at = time.time()
        for e in flips:
            run.fleet.control.power([e.key], "off" if e.power == "on" else "on")
        while next_cycle()["start"] <= flipped_at:
            pass  # that cycle began before the change; the next one must correct it
        bmc = {e.key: run.fleet.control.state(e.key) for e in flips}
        states = {k: b["power"] for k, b in bmc.items()}
        nodes = _node_keys(run)
        timed = [correction(bmc[e.key], run.all_cycles) for e in flips]
        result["out_of_band"] = {
            "flipped": len(flips),
            "corrected_on_bmc": sum(states[e.key] == e.power for e in flips),
            "ironic_kept_state": sum(nodes[e.key]["power_state"] == f"power {e.power}" for e in flips),
            "not_corrected": sorted(e.key for e in flips if states[e.key] != e.power),
            # Per flip, in order: out-of-band change to the corrective Chassis Control (s), and
            # that control's time from the start of the cycle that sent it.
            "correction_seconds": [t["seconds"] for t in timed],
            "correction_after_cycle_start": [t["after_cycle_start"] for t in timed],
            "correction_actions": [t["action"] for t in timed],
            "correction_summary": spread([t["seconds"] for t in timed]),
            "after_cycle_start_summary": spread([t["after_cycle_start"] for t in timed]),
        }
    if run.dead:
        retries = int(run.plan.options.get("conductor", {}).get("power_state_sync_max_retries", 3))
        for _ in range(retries + 2):  # failures 1..retries+1, then the node is in maintenance
            nodes = _node_keys(run)
            if all(nodes[k]["maintenance"] for k in run.dead):
                break
            next_cycle()
        else:
            nodes = _node_keys(run)  # after the last cycle waited for
        # Every cycle since the start tried the dead nodes until retries + 1 had failed.
        with_dead = run.all_cycles[: retries + 1]
        in_maint = [k for k in run.dead if nodes[k]["maintenance"]]
        baseline = next_cycle()  # dead nodes are now skipped: a cycle of live nodes only
        result["dead"] = {
            "dead": len(run.dead),
            "in_maintenance": len(in_maint),
            "faults": sorted({nodes[k]["fault"] or "" for k in in_maint}),
            "live_in_maintenance": sum(bool(n["maintenance"]) for k, n in nodes.items() if k not in run.dead),
            "cycle_runtime_with_dead": max((c["runtime"] for c in with_dead), default=None),
            "cycle_runtime_without_dead": baseline["runtime"],
        }
    result["live_missed_in_any_cycle"] = sum(c["missed_live"] for c in result["cycles"])
    return result
