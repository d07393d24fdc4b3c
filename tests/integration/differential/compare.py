"""Differences between two traces of the same script, and a report a person can act on.

Compared: every node's fields (script.FIELDS) after every cycle (minus what
``script.masked()`` says depends on timing outside the sync sequence) and at the end
(everything); each BMC's Chassis Control requests, in order; each host's final power.

Text fields (last_error, maintenance_reason) are compared exactly, except that each
run's node UUIDs are replaced by the node's role: UUIDs are generated at enrollment, so
they differ between runs. Nothing else is normalised: both runs use the same BMC
addresses and conductor host, and Ironic's messages hold no timestamps.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from ironic_scale.density.cycles import Cycle
from tests.integration.differential import script
from tests.integration.differential.runner import Trace

SLACK = 0.05  # s around a cycle's [start, end]: its log times have millisecond resolution
LOG_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \d+ (?P<level>[A-Z]+) (?P<logger>\S+) "
                      r"(?:\[[^\]]*\] )?(?P<msg>.*)$")
LOG_LEVELS = ("INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LINES_PER_ROLE = 20


@dataclass(frozen=True)
class Difference:
    where: str  # "after cycle 3", "final", "power actions", "host power"
    role: str
    what: str  # a node field, or "chassis control" / "power"
    a: Any
    b: Any


def normalise(value: Any, uuids: dict[str, str]) -> Any:
    """A field's value with this run's node UUIDs written as ``<role>``."""
    if not isinstance(value, str):
        return value
    for role, uuid in uuids.items():
        value = value.replace(uuid, f"<{role}>")
    return value


def when(t: float, cycles: list[Cycle]) -> str:
    """Where a wall-clock time falls in a run's cycle sequence."""
    for i, c in enumerate(cycles, 1):
        if t < c.start - SLACK:
            return f"before cycle {i}"
        if t <= c.end + SLACK:
            return f"in cycle {i}"
    return f"after cycle {len(cycles)}"


def differences(a: Trace, b: Trace) -> list[Difference]:
    """Everything in which ``b`` differs from ``a``, in script order."""
    masked = script.masked()
    out = []
    for k, (ca, cb) in enumerate(zip(a.checkpoints, b.checkpoints, strict=True), 1):
        final = k == len(a.checkpoints)
        for role in script.ROLE_NAMES:
            skip = () if final else masked.get((k, role), ())
            for f in script.FIELDS:
                va, vb = normalise(ca[role][f], a.uuids), normalise(cb[role][f], b.uuids)
                if f not in skip and va != vb:
                    out.append(Difference("final" if final else f"after cycle {k}", role, f, va, vb))
    for role in script.ROLE_NAMES:
        acts_a = [act for _, act in a.power_logs[role]]
        acts_b = [act for _, act in b.power_logs[role]]
        if acts_a != acts_b:
            out.append(Difference("power actions", role, "chassis control",
                                  [f"{act} ({when(t, a.cycles)})" for t, act in a.power_logs[role]],
                                  [f"{act} ({when(t, b.cycles)})" for t, act in b.power_logs[role]]))
        if a.bmc_power[role] != b.bmc_power[role]:
            out.append(Difference("host power", role, "power", a.bmc_power[role], b.bmc_power[role]))
    return out


def log_excerpt(trace: Trace, role: str) -> list[str]:
    """The conductor's INFO-and-above lines about one node, placed in the cycle sequence.

    A message repeated back to back (recovery retrying a failing node every few seconds)
    is shown once, with the span and the count.
    """
    uuid = trace.uuids[role]
    runs: list[list[Any]] = []  # [first place, last place, count, text]
    for line in trace.log_lines:
        m = LOG_LINE.match(line)
        if not m or m["level"] not in LOG_LEVELS or uuid not in m["msg"]:
            continue
        if m["logger"] == "ironic.api" and " GET " in m["msg"]:
            continue  # the harness reading nodes; changes made over REST stay in
        # Local time, as the cycles' own times are read (cycles.parse_line).
        t = datetime.datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        text = f"{m['level']} {m['logger']}: {normalise(m['msg'], trace.uuids)}"
        if runs and runs[-1][3] == text:
            runs[-1][1], runs[-1][2] = when(t, trace.cycles), runs[-1][2] + 1
        else:
            runs.append([when(t, trace.cycles), when(t, trace.cycles), 1, text])
    out = [f"[{first}] {text}" if n == 1 else f"[{first} .. {last}, {n} times] {text}"
           for first, last, n, text in runs]
    return out[:LOG_LINES_PER_ROLE]


def report(diffs: list[Difference], a: Trace, b: Trace) -> str:
    """Differences grouped by node, each with both runs' log lines about it."""
    if not diffs:
        return f"{b.side} matches {a.side}"
    lines = [f"{b.side} differs from {a.side} in {len(diffs)} place(s):"]
    roles = list(dict.fromkeys(d.role for d in diffs))
    for role in roles:
        lines.append(f"\n{role} (node {a.uuids[role]} in {a.side}, {b.uuids[role]} in {b.side}):")
        for d in diffs:
            if d.role == role:
                lines += [f"  {d.where:>15}  {d.what}:", f"      {a.side:>8}: {d.a!r}",
                          f"      {b.side:>8}: {d.b!r}"]
        for trace in (a, b):
            excerpt = log_excerpt(trace, role)
            lines.append(f"  {trace.side} log ({len(excerpt)} lines):")
            lines += [f"      {x}" for x in excerpt] or ["      (none)"]
    lines.append("\nevents: " + "; ".join(f"after cycle {k}: {', '.join(what)}"
                                          for k, _, _, what in a.events))
    return "\n".join(lines)
