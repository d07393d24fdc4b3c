"""Several conductors: who polled which BMC in a measured window, and rounds of cycles.

Each conductor sends its IPMI traffic from its own loopback address
(``[native_ipmi]source_address``, recorded in stack.json), and the simulator
counts, per BMC and per client source address, the Get Chassis Status reads and
the monotonic time of the latest (``SimControl.requesters``). A conductor's
measured window runs from the end of its last cycle before the window (``e0``)
to the end of its last measured cycle (``eK``); its BMCs' counts are read (and
reset) just after ``e0`` and read again just after ``eK``. A read of the same
BMC between a cycle's end and the snapshot belongs to the next cycle: the
latest read's time says whether that happened, so each snapshot is corrected by
at most one read per BMC and source (a cycle polls a node once, and the
snapshot follows the cycle's end by well under a cycle).

Pure functions over plain dicts, so the checks can be tested with hand-made input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Counts per BMC key, then per source address: (status reads, wall time of the latest or None).
Counts = dict[str, dict[str, tuple[int, float | None]]]
EXAMPLES = 10  # BMC keys named per kind of failure
# oslo.log stamps lines in whole milliseconds (truncated): a cycle's last read can come up to
# a millisecond after the logged end. The next cycle's first read comes after it lists its
# nodes from the database, many milliseconds later; a read this close to the end is the cycle's.
LOG_GRAIN = 0.002


def counts_from_reply(reply: Mapping[str, Any], wall_offset: float) -> Counts:
    """``requesters`` reply (with detail) -> counts with wall-clock times (monotonic + offset)."""
    out: Counts = {}
    for key, entry in (reply.get("requesters") or {}).items():
        out[key] = {src: (int(s.get("status_reads") or 0),
                          None if s.get("last_status") is None else s["last_status"] + wall_offset)
                    for src, s in entry.get("sources", {}).items()}
    return out


def window_reads(before: Counts, after: Counts, since: float, until: float,
                 before_reset: bool = True) -> dict[str, dict[str, int]]:
    """Reads per BMC and source within ``(since, until]`` from two snapshots.

    ``before`` was taken just after ``since`` (and reset the counts when ``before_reset``);
    ``after`` just after ``until``; both are logged cycle ends (``LOG_GRAIN``). A latest read
    after ``since`` in ``before`` belongs to the window (it is added back); a latest read
    after ``until`` in ``after`` does not.
    """
    out: dict[str, dict[str, int]] = {}
    for key in before.keys() | after.keys():
        b, a = before.get(key, {}), after.get(key, {})
        per: dict[str, int] = {}
        for src in b.keys() | a.keys():
            n_before, last_before = b.get(src, (0, None))
            n_after, last_after = a.get(src, (0, None))
            n = n_after if before_reset else n_after - n_before
            if last_before is not None and last_before > since + LOG_GRAIN:
                n += 1
            if last_after is not None and last_after > until + LOG_GRAIN:
                n -= 1
            if n:
                per[src] = n
        out[key] = per
    return out


def polled_by_whom(reads: Mapping[str, Mapping[str, int]], owner_source: Mapping[str, str],
                   cycles: Mapping[str, int], ignore: Iterable[str] = ()) -> dict[str, Any]:
    """Check every BMC was read exactly once per cycle, by its predicted conductor alone.

    ``reads``: BMC key -> {source address: reads in its owner's window}; ``owner_source``:
    BMC key -> the source address of the conductor predicted to own it; ``cycles``: source
    address -> measured cycles in that conductor's window; ``ignore``: BMCs left out (dead).
    Returns counts (``exact``, ``wrong_conductor``: read by any other source,
    ``two_conductors``: by two or more sources, ``missed``: never by its owner,
    ``miscounted``: by its owner, but not once per cycle), with a few examples of each.
    """
    skip = set(ignore)
    result: dict[str, Any] = {"checked": 0, "exact": 0, "wrong_conductor": 0, "two_conductors": 0,
                              "missed": 0, "miscounted": 0, "examples": {}}

    def bad(kind: str, key: str, detail: Any) -> None:
        result[kind] += 1
        examples = result["examples"].setdefault(kind, [])
        if len(examples) < EXAMPLES:
            examples.append({"bmc": key, "reads": detail})

    for key, owner in sorted(owner_source.items()):
        if key in skip:
            continue
        result["checked"] += 1
        per = {s: n for s, n in reads.get(key, {}).items() if n > 0}
        want = cycles.get(owner, 0)
        ok = True
        if any(s != owner for s in per):
            bad("wrong_conductor", key, per)
            ok = False
        if len(per) > 1:
            bad("two_conductors", key, per)
            ok = False
        if per.get(owner, 0) == 0:
            bad("missed", key, per)
            ok = False
        elif per[owner] != want:
            bad("miscounted", key, {**per, "expected": want})
            ok = False
        result["exact"] += ok
    result["ok"] = result["exact"] == result["checked"]
    return result


def held_elsewhere(reply: Mapping[str, Any], owner_source: Mapping[str, str]) -> int:
    """BMCs on which a source other than the owner's holds a session now (from ``requesters``)."""
    return sum(any(src != owner_source.get(key) and n for src, n in entry.get("held", {}).items())
               for key, entry in (reply.get("requesters") or {}).items() if key in owner_source)


def round_summary(size: int, cycles: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One round (the k-th measured cycle of every conductor): conductor name -> its cycle
    (``runtime``, ``start``, ``end``, optional ``cpu_seconds``, ``cpu_seconds_max``).

    The round takes as long as its slowest conductor; throughput is every node over that;
    CPU sums each conductor's CPU within its own cycle (None if any is unknown).
    """
    runtimes = [c["runtime"] for c in cycles.values()]
    slowest = max(runtimes)
    out: dict[str, Any] = {
        "runtime": slowest,
        "start": min(c["start"] for c in cycles.values()),
        "end": max(c["end"] for c in cycles.values()),
        "fastest_conductor_runtime": min(runtimes),
        "sync_nodes_per_second": round(size / slowest, 1) if slowest > 0 else None,
    }
    for key in ("cpu_seconds", "cpu_seconds_max"):
        values = [c.get(key) for c in cycles.values()]
        out[f"conductor_{key}"] = None if any(v is None for v in values) else round(sum(values), 3)
    return out


def owners_by_source(owners: Mapping[str, str | None], bmc_of_node: Mapping[str, str],
                     source_of: Mapping[str, str]) -> dict[str, str]:
    """BMC key -> source address of its predicted owner, from node uuid -> owner name,
    node uuid -> BMC key and conductor name -> source address (nodes with no owner left out)."""
    out = {}
    for uuid, owner in owners.items():
        if owner is not None and uuid in bmc_of_node:
            out[bmc_of_node[uuid]] = source_of.get(owner, f"unknown:{owner}")
    return out


def bmc_keys(client: Any) -> dict[str, str]:
    """Node uuid -> the simulator's key of its BMC (``address:port`` from driver_info)."""
    out = {}
    for n in client.nodes():
        info = n.get("driver_info") or {}
        out[n["uuid"]] = f"{info['ipmi_address']}:{int(info.get('ipmi_port') or 623)}"
    return out
