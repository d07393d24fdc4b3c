"""Sizes x fault mixes x methods x repeats: start each fleet, sweep, judge, collect.

One simulated fleet per (size, fault mix), so a dead BMC is marked in the
inventory the bench judges against. Repeats are interleaved across methods
(method A, B, C, then A, B, C again) so a drift in the machine's load spreads
over every method instead of landing on one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ironic_scale import signals
from ironic_scale.bench.faults import FaultSettings
from ironic_scale.bench.progress import Progress, Silent
from ironic_scale.bench.sweep import Sweep, SweepOptions, sweep
from ironic_scale.bench.verdict import Verdict, expected_states, judge
from ironic_scale.sim.inventory import Endpoint
from ironic_scale.sim.launcher import RunningFleet, start_fleet

LARGE_FLEET = 5000  # above this, ipmitool runs once per size unless told otherwise
# Simulator request counters that would mean the bench changed a host: never expected.
WRITE_COUNTERS = ("req.chassis_control", "req.set_boot_options")


@dataclass
class Plan:
    sizes: list[int]
    faults: list[str]
    methods: list[str]
    repeats: int
    address: str = "127.10.0.1"
    ipmitool_max_repeats: int | None = None  # None: 1 above LARGE_FLEET nodes, else no cap
    fault_settings: FaultSettings = field(default_factory=FaultSettings)
    options: SweepOptions = field(default_factory=SweepOptions)
    inventory: list[Endpoint] | None = None  # real BMCs, read-only; no simulator
    session_slots: int | None = None  # the simulated BMCs' session limit (None: the sim's 8)
    profile: Callable[[list[Endpoint]], dict[str, Any]] | None = None  # runs on one fleet

    def repeats_for(self, method: str, size: int) -> int:
        if method != "ipmitool":
            return self.repeats
        cap = self.ipmitool_max_repeats
        if cap is None:
            cap = 1 if size > LARGE_FLEET else self.repeats
        return max(1, min(self.repeats, cap))


@dataclass
class Row:
    """Every sweep of one method at one size under one fault mix."""

    size: int
    fault: str
    method: str
    planned: int  # sweeps this row gets (fewer than --repeats when ipmitool is capped)
    sweeps: list[Sweep] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    slots: list[dict[str, Any] | None] = field(default_factory=list)  # per sweep: SimControl.slots


@dataclass
class Outcome:
    rows: list[Row]
    fleets: list[dict[str, Any]]  # per simulated fleet: its options and request counters
    profile: dict[str, Any] | None = None
    interrupted: bool = False  # Ctrl-C: the rows measured so far


def _sweep_rows(plan: Plan, size: int, fault: str, endpoints: list[Endpoint],
                expected: dict[str, str | None] | None, sim_cpu: Callable[[], float] | None,
                progress: Progress, out: list[Row],
                slots: Callable[..., dict[str, Any]] | None = None) -> None:
    """Append this fleet's rows to ``out`` first, so an interrupted run keeps what it measured.

    ``slots`` (``SimControl.slots``) is reset before each sweep, with every session a previous
    sweep left behind dropped, and read after it: the sessions this method's login, poll
    and logout held per BMC at most, and what it left open.
    """
    rows = [Row(size, fault, m, plan.repeats_for(m, size)) for m in plan.methods]
    out += rows
    where = f"{size} BMCs, faults {fault}" if expected is not None else f"{size} real BMCs"
    for i in range(plan.repeats):
        for row in rows:
            if i >= row.planned:
                continue
            signals.check()  # a Ctrl-C whose exception Python dropped still stops here
            progress.begin(f"  {where}: {row.method} sweep {i + 1}/{row.planned}")
            if slots:
                slots(reset=True, drop=True)
            s = sweep(row.method, endpoints, plan.options, sim_cpu)
            held = slots() if slots else None
            v = judge(s.states, endpoints, expected)
            s.states = {}  # judged; 25,000 entries per sweep are not worth keeping
            row.sweeps.append(s)
            row.verdicts.append(v)
            row.slots.append(held)
            flag = "" if v.ok else f"  CORRECTNESS FAILURE: missed {v.missed}, wrong {v.wrong}"
            held_text = "" if held is None else f", slots max {held['max']}"
            progress.note(f"    {s.wall_seconds:.2f} s, {s.cpu_ms_per_node:.3f} ms CPU/node, "
                          f"{v.failed} failed{held_text}{flag}")


def _fleet_record(size: int, fault: str, args: list[str], fleet: RunningFleet) -> dict[str, Any]:
    counters = fleet.control.counters()
    requests = {k: v for k, v in counters.items() if k.startswith(("req.", "drop.", "login."))}
    return {"size": size, "fault": fault, "sim_args": args, "requests": requests,
            "writes": {k: counters.get(k, 0) for k in WRITE_COUNTERS},
            "cpu_seconds": counters.get("cpu_seconds"), "rss_bytes": counters.get("rss_bytes"),
            "processes": counters.get("processes")}


def run(plan: Plan, progress: Progress | None = None) -> Outcome:
    """Run the whole plan; nothing is printed on stdout (``report`` does that).

    Ctrl-C stops it with the sweeps done so far (``Outcome.interrupted``).
    """
    progress = progress or Silent()
    plan.options.progress = progress
    outcome = Outcome([], [])
    try:
        if plan.inventory is not None:
            _run_inventory(plan, plan.inventory, progress, outcome)
        else:
            _run_simulated(plan, progress, outcome)
    except KeyboardInterrupt:
        outcome.interrupted = True
        progress.note("interrupted: keeping the sweeps done so far")
    outcome.rows = [r for r in outcome.rows if r.sweeps]
    return outcome


def _run_simulated(plan: Plan, progress: Progress, outcome: Outcome) -> None:
    profile_at = (max(plan.sizes), "none" if "none" in plan.faults else plan.faults[0])
    steps = [(n, f) for n in plan.sizes for f in plan.faults]
    for k, (size, fault) in enumerate(steps, 1):
        args = plan.fault_settings.sim_args(fault)
        if plan.session_slots is not None:
            args += ["--session-slots", str(plan.session_slots)]
        progress.begin(f"[{k}/{len(steps)}] {size} BMCs, faults {fault}: starting the simulator")
        with start_fleet(size, ("--address", plan.address, *args)) as fleet:
            on = {e.key for e in fleet.endpoints[::2]}  # half the hosts on, half off
            fleet.power(sorted(on), "on")
            expected = expected_states(fleet.endpoints, on)

            def sim_cpu(fleet: RunningFleet = fleet) -> float:
                return float(fleet.control.counters()["cpu_seconds"])

            _sweep_rows(plan, size, fault, fleet.endpoints, expected, sim_cpu, progress,
                        outcome.rows, fleet.control.slots)
            if plan.profile and (size, fault) == profile_at:
                progress.begin(f"  {size} BMCs, faults {fault}: profiling native sweeps")
                outcome.profile = {"size": size, "fault": fault, **plan.profile(fleet.endpoints)}
            outcome.fleets.append(_fleet_record(size, fault, args, fleet))


def _run_inventory(plan: Plan, endpoints: list[Endpoint], progress: Progress,
                   outcome: Outcome) -> None:
    """Real BMCs: every method reads, states are counted, nothing is judged."""
    progress.begin(f"{len(endpoints)} BMCs from the inventory, read-only")
    _sweep_rows(plan, len(endpoints), "none", endpoints, None, None, progress, outcome.rows)
    if plan.profile:
        progress.begin("  profiling native sweeps")
        outcome.profile = {"size": len(endpoints), "fault": "none", **plan.profile(endpoints)}
