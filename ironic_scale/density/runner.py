"""The density test: a real Ironic syncing a simulated fleet, one series after the other.

Per fleet size: one simulator; per series (``variants``: a driver, stock or
patched Ironic, settings) a fresh stack (configs, schema, one ``available`` node
per BMC written through Ironic's object layer), started, given its warm-up
cycles, then measured over several sync cycles. Cycle boundaries and runtimes
come from Ironic's own log line; which nodes were polled comes from the
simulator; CPU and RSS from /proc; on PostgreSQL, transactions and SQL
statements from the server's statistics.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.bench.progress import Progress
from ironic_scale.density import checks, patched
from ironic_scale.density.cycles import Cycle, CycleWatcher
from ironic_scale.density.procstat import Sampler
from ironic_scale.density.variants import BULK_OPTION, BULK_SECTION, NAMES, VARIANTS, stack_options
from ironic_scale.sim import inventory
from ironic_scale.sim.launcher import RunningFleet, start_fleet
from ironic_scale.stack import enroll, pgstats, postgres
from ironic_scale.stack.processes import Stack, StackSpec

DRIVERS = NAMES  # the series: ipmi, native-ipmi, native-ipmi-patched
WINDOW_SLACK = 0.05  # s around a cycle's [start, end] when asking the simulator what was polled
# PostgreSQL publishes a backend's pg_stat_database counts (rows read) at most once a second:
# they are read this long after a cycle's end (so they include a little of what follows it).
DB_STATS_DELAY = 1.5
# pg_stat_statements counts a statement as it finishes: statements (and transactions, their
# COMMITs and ROLLBACKs) are read from the last sample before a cycle's start to the first
# after its end (the whole burst, plus at most a sampling interval of whatever else ran on
# each side).
STATEMENT_COUNTERS = ("db_statements", *(f"db_statements_{k}" for k in pgstats.KINDS),
                      "db_statements_evicted", "db_transactions")


@dataclass
class DensityPlan:
    sizes: list[int]
    work: Path
    drivers: tuple[str, ...] = DRIVERS
    cycles: int = 3
    warmup: int = 1
    # ipmitool at thousands of nodes takes minutes per cycle: fewer cycles above this size.
    slow_driver_cycles: int = 1
    slow_driver_above: int = 5000
    sync_interval: int = 10
    db: str = "sqlite"
    address: str = "127.170.0.1"
    conductor_base: str = "127.100.0.1"
    dead_fraction: float = 0.0
    flips: int = 0  # out-of-band power changes to check after the measured cycles
    api_users: int = 0  # 0: no API load phase
    api_seconds: float = 30.0
    profile_seconds: float = 0.0  # 0: no flame graph
    options: dict[str, dict[str, str]] = field(default_factory=dict)

    def cycles_for(self, driver: str, size: int) -> tuple[int, int]:
        """(warm-up, measured) cycles for series ``driver`` at ``size``."""
        if VARIANTS[driver].driver == "ipmi" and size > self.slow_driver_above:
            return 0, self.slow_driver_cycles
        return self.warmup, self.cycles


def cycle_timeout(size: int, driver: str) -> float:
    """Generous: ipmitool costs ~50-60 ms of conductor CPU per node on 2 cores."""
    per_node = 0.2 if VARIANTS[driver].driver == "ipmi" else 0.05
    return 300.0 + size * per_node


def _enrollment_inventory(fleet: RunningFleet, path: Path) -> list[inventory.Endpoint]:
    """Half the hosts on (out of band), and an inventory that says so, for enrollment."""
    on = [e.key for e in fleet.endpoints[::2]]
    fleet.power(on, "on")
    on_set = set(on)
    endpoints = [dataclasses.replace(e, power="on" if e.key in on_set else "off") for e in fleet.endpoints]
    inventory.write(path, endpoints)
    return endpoints


class DriverRun:
    """One driver on one stack: measure cycles, then optional checks, API load and profile."""

    def __init__(self, plan: DensityPlan, size: int, driver: str, stack: Stack, fleet: RunningFleet,
                 endpoints: list[inventory.Endpoint], progress: Progress):
        self.plan, self.size, self.driver = plan, size, driver
        self.stack, self.fleet, self.endpoints, self.progress = stack, fleet, endpoints, progress
        variant = VARIANTS[driver]
        self.record: dict[str, Any] = {
            "size": size, "driver": driver,  # the series' name: the key tables and plots use
            "variant": {"hardware_type": variant.driver, "summary": variant.summary,
                        "patched_ironic": stack.spec.python_path[0] if variant.patched else None,
                        "options": variant.options}}
        self.dead = {e.key for e in endpoints if e.dead}
        self.all_cycles: list[dict[str, Any]] = []  # warm-up, measured and check cycles, in order

    def _groups(self) -> dict[str, list[int]]:
        groups = {"conductor": [self.stack.worker_pid(c.name) for c in self.stack.conductors],
                  "sim": self.fleet.pids}
        if any(p.name == "api" for p in self.stack.state.processes):
            groups["api"] = [self.stack.worker_pid("api")]
        return groups

    def run(self) -> dict[str, Any]:
        plan, stack = self.plan, self.stack
        t0 = time.monotonic()
        stack.launch()
        self.record["start_seconds"] = round(time.monotonic() - t0, 2)
        conductor = stack.conductors[0]
        watcher = CycleWatcher(Path(conductor.log))
        db_stats = (pgstats.DatabaseStats(stack.state.db_url, postgres.stats_database())
                    if stack.state.db == "postgresql" else None)
        sampler = Sampler(self._groups, counters=db_stats.read if db_stats else None).start()
        alive = lambda: all(stack.running().values())  # noqa: E731
        timeout = cycle_timeout(self.size, self.driver)
        warmup, measured = plan.cycles_for(self.driver, self.size)
        try:
            for k in range(warmup):
                self.progress.begin(f"  {self.size} nodes, {self.driver}: warm-up cycle {k + 1}/{warmup}")
                self.record.setdefault("warmup", []).append(
                    self._cycle_record(watcher.next_cycle(timeout, alive), sampler))
            cycles = []
            for k in range(measured):
                self.progress.begin(f"  {self.size} nodes, {self.driver}: cycle {k + 1}/{measured}")
                c = self._cycle_record(watcher.next_cycle(timeout, alive), sampler)
                sql = f", {c['db_statements']} SQL statements" if "db_statements" in c else ""
                self.progress.note(f"    {c['runtime']:.1f} s, {c['conductor_cpu_ms_per_node']:.2f} ms "
                                   f"CPU/node, polled {c['polled']}/{c['expected']}{sql}")
                cycles.append(c)
            self.record["cycles"] = cycles
            if plan.flips or self.dead:
                self.progress.begin(f"  {self.size} nodes, {self.driver}: correctness checks")
                self.record["checks"] = checks.run_checks(self, watcher, sampler, timeout, alive)
            if plan.api_users:
                self.progress.begin(f"  {self.size} nodes, {self.driver}: API load, {plan.api_users} "
                                    f"users for {plan.api_seconds:.0f} s during sync")
                self.record["api_load"] = self._api_load()
            if plan.profile_seconds:
                self.progress.begin(f"  {self.size} nodes, {self.driver}: py-spy for "
                                    f"{plan.profile_seconds:.0f} s")
                self.record["profile"] = self._profile()
            self.record["rss_mib"] = {g: round(sampler.peak_rss(g, 0, time.time()) / 2**20, 1)
                                      for g in ("conductor", "api") if g in sampler.samples[-1].rss}
        finally:  # the caller, which prepared the stack, stops it
            sampler.stop()
            if db_stats is not None:
                db_stats.close()
        return self.record

    def _cycle_record(self, c: Cycle, sampler: Sampler) -> dict[str, Any]:
        # The cycle has ended, but the sampler may not have a sample after its end yet.
        db_end = c.end + DB_STATS_DELAY if sampler.counters else c.end
        while sampler.samples[-1].at < db_end:
            time.sleep(sampler.interval / 2)
        reads = self.fleet.control.status_reads(c.start - WINDOW_SLACK, c.end + WINDOW_SLACK)
        # Dead BMCs never answer, so every one of them is always among the missed.
        rec: dict[str, Any] = {
            "index": len(self.all_cycles), "runtime": c.runtime, "start": c.start, "end": c.end,
            "workers": c.workers,
            "polled": reads["polled"], "expected": self.size - len(self.dead),
            "status_reads": reads["reads"], "missed_live": reads["missed_count"] - len(self.dead),
            "missed_live_examples": [k for k in reads["missed"] if k not in self.dead][:10],
        }
        for group in ("conductor", "api", "sim"):
            a, b = sampler.value_at(group, c.start), sampler.value_at(group, c.end)
            if a is not None and b is not None:
                rec[f"{group}_cpu_seconds"] = round(b - a, 3)
        # Interpolation shares a sampling interval's CPU out evenly; a cycle much shorter than
        # the interval gets too little of it. The samples around the cycle give an upper bound.
        around = sampler.value_around("conductor", c.start, c.end)
        if around is not None:
            rec["conductor_cpu_seconds_max"] = round(around, 3)
        rows = sampler.value_around("db_rows_read", c.start, db_end)  # PostgreSQL only
        if rows is not None:
            rec["db_rows_read"] = round(rows)
        for counter in STATEMENT_COUNTERS:  # PostgreSQL only: from the samples around the cycle
            grown = sampler.value_around(counter, c.start, c.end)
            if grown is not None:
                rec[counter] = round(grown)
        if c.classes is not None:  # the patched Ironic's bulk-sync line(s)
            rec["node_classes"], rec["bulk_line"] = c.classes, c.bulk_line
        if "conductor_cpu_seconds" in rec:
            rec["conductor_cpu_ms_per_node"] = rec["conductor_cpu_seconds"] * 1000 / self.size
        self.all_cycles.append(rec)
        return rec

    def _api_load(self) -> dict[str, Any]:
        from ironic_scale.density import apiload  # locust runs in its own process

        work = self.stack.work / f"locust-{self.driver}"
        work.mkdir(exist_ok=True)
        result = apiload.run_api_load(self.stack.state.url, self.plan.api_users, self.plan.api_seconds, work)
        return result.to_json()

    def _profile(self) -> dict[str, Any]:
        from ironic_scale.bench.profile import record_pid

        path = self.stack.work.parent / f"flame-{self.size}-{self.driver}.svg"
        return record_pid(self.stack.worker_pid(self.stack.conductors[0].name), str(path),
                          self.plan.profile_seconds)


def _driver_run(plan: DensityPlan, size: int, driver: str, fleet: RunningFleet,
                endpoints: list[inventory.Endpoint], progress: Progress,
                patched_ironic: Path | None = None) -> dict[str, Any]:
    """A fresh database per series, so all start alike (no maintenance or retry counts left
    over from another series' dead-BMC checks)."""
    variant = VARIANTS[driver]
    python_path = (str(patched_ironic),) if variant.patched and patched_ironic else ()
    if variant.patched and not python_path:
        raise ValueError(f"series {driver} needs a patched copy of Ironic (patched.make_copy)")
    spec = StackSpec(work=plan.work / f"n{size}-{driver}", db=plan.db, sync_interval=plan.sync_interval,
                     conductor_base=plan.conductor_base, options=stack_options(variant, plan.options),
                     python_path=python_path)
    stack = Stack(spec)
    stack.prepare()
    try:
        enrolled = enroll.run_enroll(stack.config_files(), plan.work / f"inventory-{size}.jsonl",
                                     variant.driver, python_path=python_path)
        progress.note(f"  {driver}: enrolled {enrolled.get('created')} nodes in {enrolled.get('seconds')} s")
        record = DriverRun(plan, size, driver, stack, fleet, endpoints, progress).run()
        record["enrollment"] = enrolled
        return record
    finally:
        stack.stop()
        if stack.state:
            stack.drop_database()


def run(plan: DensityPlan, progress: Progress) -> list[dict[str, Any]]:
    """Every size x series; returns one record per pair."""
    records = []
    plan.work.mkdir(parents=True, exist_ok=True)
    if plan.db == "postgresql":  # may need to restart the cluster once: say so before anything runs
        postgres.ensure_running(progress.note)
    patched_ironic = None
    if any(VARIANTS[d].patched for d in plan.drivers):
        progress.begin(f"patched Ironic: copying the installed Ironic under {plan.work} and applying "
                       "patches/ (once per run)")
        patched_ironic = patched.make_copy(plan.work)
        source = patched.check_copy(patched_ironic, BULK_SECTION, BULK_OPTION)
        progress.note(f"  Ironic's processes will import {source}")
    for i, size in enumerate(plan.sizes, 1):
        progress.begin(f"[{i}/{len(plan.sizes)}] {size} nodes: simulator, then per driver a stack")
        sim_args = ["--address", plan.address]
        if plan.dead_fraction:
            sim_args += ["--dead-fraction", str(plan.dead_fraction)]
        with start_fleet(size, sim_args) as fleet:
            endpoints = _enrollment_inventory(fleet, plan.work / f"inventory-{size}.jsonl")
            for driver in plan.drivers:
                records.append(_driver_run(plan, size, driver, fleet, endpoints, progress, patched_ironic))
    return records
