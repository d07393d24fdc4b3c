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
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.bench.progress import Progress
from ironic_scale.density import checks, patched, placement
from ironic_scale.density.cycles import Cycle, CycleTimeout, CycleWatcher
from ironic_scale.density.procstat import Sampler
from ironic_scale.density.variants import BULK_OPTION, BULK_SECTION, NAMES, VARIANTS, stack_options
from ironic_scale.sim import inventory
from ironic_scale.sim.launcher import CONTROL_CHUNK, RunningFleet, start_fleet
from ironic_scale.stack import enroll, pgstats, postgres
from ironic_scale.stack.processes import Stack, StackSpec, native_ipmi_has
from ironic_scale.stack.processes import children as children_of

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
    # Conductor counts to run each size and series with (hosts x per_host each); 1: the
    # all-in-one ironic on SQLite, or API + one conductor on PostgreSQL/MariaDB.
    conductor_counts: tuple[int, ...] = (1,)
    per_host: int = 1
    rpc: str = "json-rpc"

    def option(self, section: str, name: str, default: str) -> str:
        return self.options.get(section, {}).get(name, default)

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


class RoundWatcher:
    """Every conductor's log at once: each call gives the next cycle of every conductor (a round).

    With one conductor a round is one cycle, as the density test always measured.
    """

    def __init__(self, logs: dict[str, Path]):
        self.watchers = {name: CycleWatcher(log) for name, log in logs.items()}
        self.pending: dict[str, list[Cycle]] = {name: [] for name in logs}

    def poll(self) -> dict[str, list[Cycle]]:
        """New cycles per conductor (also kept for ``next_cycle``)."""
        new = {name: w.poll() for name, w in self.watchers.items()}
        for name, cycles in new.items():
            self.pending[name] += cycles
        return new

    def next_cycle(self, timeout: float, alive: Any = None) -> dict[str, Cycle]:
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if all(self.pending.values()):
                return {name: q.pop(0) for name, q in self.pending.items()}
            if alive is not None and not alive():
                raise CycleTimeout("a conductor exited while waiting for a sync cycle")
            if time.monotonic() > deadline:
                late = [n for n, q in self.pending.items() if not q]
                raise CycleTimeout(f"no power sync cycle completed in {timeout:.0f} s by {', '.join(late)}")
            time.sleep(0.2)


@dataclass
class _Window:
    """One conductor's measured window and the simulator snapshots around it."""

    seen: int = 0  # cycles seen so far (warm-up and measured)
    boundary: float | None = None  # end of the last cycle before the window (wall clock)
    before: placement.Counts | None = None  # counts read (and reset) just after the boundary
    before_at: float = 0.0
    warm: list[Cycle] = field(default_factory=list)  # cycles before the window
    measured: list[Cycle] = field(default_factory=list)
    after: placement.Counts | None = None
    after_at: float = 0.0
    after_reply: dict[str, Any] | None = None
    last_progress: float = field(default_factory=time.monotonic)


class DriverRun:
    """One driver on one stack: measure cycles, then optional checks, API load and profile."""

    def __init__(self, plan: DensityPlan, size: int, driver: str, stack: Stack, fleet: RunningFleet,
                 endpoints: list[inventory.Endpoint], progress: Progress):
        self.plan, self.size, self.driver = plan, size, driver
        self.stack, self.fleet, self.endpoints, self.progress = stack, fleet, endpoints, progress
        variant = VARIANTS[driver]
        spec = stack.spec
        self.record: dict[str, Any] = {
            "size": size, "driver": driver,  # the series' name: the key tables and plots use
            "conductors": spec.conductors, "hosts": spec.hosts, "per_host": spec.per_host,
            "db": spec.db, "rpc": spec.rpc if spec.db != "sqlite" else "none",
            "cpu_count": os.cpu_count(),
            "variant": {"hardware_type": variant.driver, "summary": variant.summary,
                        "patched_ironic": stack.spec.python_path[0] if variant.patched else None,
                        "options": variant.options}}
        self.dead = {e.key for e in endpoints if e.dead}
        self.all_cycles: list[dict[str, Any]] = []  # warm-up, measured and check cycles, in order
        several = f", {spec.conductors} conductors" if spec.conductors > 1 else ""
        self.tag = f"{size} nodes, {driver}{several}"
        # BMC key -> source address of its predicted owner (None: no placement check).
        self.owner_source: dict[str, str] | None = None

    def _groups(self) -> dict[str, list[int]]:
        conductors = {c.name: self.stack.worker_pid(c.name) for c in self.stack.conductors}
        groups = {"conductor": list(conductors.values()), "sim": self.fleet.pids}
        for name, pid in conductors.items():
            groups[f"conductor:{name}"] = [pid]
        if any(p.name == "api" for p in self.stack.state.processes):
            groups["api"] = [self.stack.worker_pid("api")]
            api = next(p for p in self.stack.state.processes if p.name == "api")
            for i, pid in enumerate(children_of(api.pid), 1):
                groups[f"api:worker-{i}"] = [pid]
        return groups

    def _placement_checked(self) -> bool:
        """Only our driver sends from the conductor's own source address."""
        return VARIANTS[self.driver].driver == "native-ipmi" and native_ipmi_has("source_address")

    def _predict(self) -> dict[str, Any]:
        """Who should own each node: Ironic's hash ring with the stack's settings, from the API."""
        from ironic_scale.sharding import ring, sources
        from ironic_scale.sharding.model import DEFAULT_ALGORITHM, DEFAULT_EXPONENT, RingSettings

        settings = RingSettings(
            exponent=int(self.plan.option("DEFAULT", "hash_partition_exponent", str(DEFAULT_EXPONENT))),
            algorithm=self.plan.option("DEFAULT", "hash_ring_algorithm", DEFAULT_ALGORITHM))
        with warnings.catch_warnings():  # openstacksdk frowns on the API version "latest"
            warnings.simplefilter("ignore")
            cluster = sources.from_api(sources.connect(endpoint=self.stack.state.url))
        owners = ring.predict(cluster, settings)
        bmc_of_node = placement.bmc_keys(self.stack.client)
        source_of = {c.registered_name: c.source_address for c in self.stack.conductors}
        self.owner_source = placement.owners_by_source(owners, bmc_of_node, source_of)
        per_owner: dict[str, int] = {}
        for owner in owners.values():
            per_owner[str(owner)] = per_owner.get(str(owner), 0) + 1
        return {"settings": dataclasses.asdict(settings), "nodes": len(owners),
                "orphaned": sum(o is None for o in owners.values()),
                # The API's own answer (its ring may still have been filling when read).
                "api_agrees": sum(n.conductor == owners[n.uuid] for n in cluster.nodes),
                "nodes_per_conductor": dict(sorted(per_owner.items()))}

    def _snapshot(self, name: str, reset: bool) -> tuple[placement.Counts, dict[str, Any], float]:
        """Requesters of the BMCs ``name`` is predicted to own (all sources), read now."""
        assert self.owner_source is not None
        source = self._source_of(name)
        keys = [k for k, s in self.owner_source.items() if s == source]
        if not keys:
            return {}, {}, time.time()
        reply: dict[str, Any] = {"requesters": {}}
        for i in range(0, len(keys), CONTROL_CHUNK):  # control lines are at most 64 KiB
            part = self.fleet.control.requesters(keys[i:i + CONTROL_CHUNK], reset=reset, detail=True)
            reply["requesters"].update(part.get("requesters") or {})
        at = time.time()
        return placement.counts_from_reply(reply, time.time() - time.monotonic()), reply, at

    def _source_of(self, name: str) -> str:
        return next(c.source_address for c in self.stack.conductors if c.name == name)

    def _collect(self, rounds: RoundWatcher, warmup: int, measured: int, timeout: float,
                 alive: Any) -> dict[str, _Window]:
        """Warm-up then ``measured`` cycles of every conductor, each on its own clock.

        A conductor's window starts after ``warmup`` cycles and, with several conductors,
        only with a cycle that starts once every ring has been rebuilt since the last
        conductor registered (``hash_ring_reset_interval`` after the stack was ready).
        The snapshot after a boundary is valid only if that conductor's next cycle had
        not ended yet; otherwise the window starts one cycle later.
        """
        check = self.owner_source is not None
        several = len(rounds.watchers) > 1
        settle = (self.ready_at + float(self.plan.option("DEFAULT", "hash_ring_reset_interval", "15"))
                  if several else 0.0)
        windows = {name: _Window() for name in rounds.watchers}
        if check and warmup == 0:
            for name, w in windows.items():
                w.boundary = time.time()
                w.before, _, w.before_at = self._snapshot(name, reset=True)
        while not all(len(w.measured) >= measured for w in windows.values()):
            for name, cycles in rounds.poll().items():
                w = windows[name]
                for c in cycles:
                    rounds.pending[name].remove(c)
                    w.seen += 1
                    w.last_progress = time.monotonic()
                    if len(w.measured) >= measured:
                        rounds.pending[name].append(c)  # after the window: for the checks
                        continue
                    snapshot_stale = check and w.before is not None and c.end <= w.before_at
                    starting = not w.measured
                    if starting and (w.seen <= warmup or c.start < settle or snapshot_stale
                                     or (check and w.before is None)):
                        w.warm.append(c)
                        w.boundary = c.end
                        if check:
                            w.before, _, w.before_at = self._snapshot(name, reset=True)
                        continue
                    w.measured.append(c)
                    self.progress.note(f"    {name}: cycle {len(w.measured)}/{measured} {c.runtime:.2f} s")
                    if len(w.measured) == measured and check:
                        w.after, w.after_reply, w.after_at = self._snapshot(name, reset=False)
            if not alive():
                raise CycleTimeout(f"a conductor exited while waiting for sync cycles: "
                                   f"{self.stack.log_tail()}")
            stuck = [n for n, w in windows.items()
                     if len(w.measured) < measured and time.monotonic() - w.last_progress > timeout]
            if stuck:
                raise CycleTimeout(f"no power sync cycle completed in {timeout:.0f} s by {', '.join(stuck)}")
            time.sleep(0.1)
        return windows

    def _check_placement(self, windows: dict[str, _Window], rounds: RoundWatcher) -> dict[str, Any]:
        """Every node polled once per cycle by its predicted conductor, over each window."""
        assert self.owner_source is not None
        rounds.poll()  # a cycle that ended before the closing snapshot makes it inexact
        inexact = [n for n, w in windows.items() if any(c.end <= w.after_at for c in rounds.pending[n])]
        reads: dict[str, dict[str, int]] = {}
        cycles: dict[str, int] = {}
        held_other = 0
        for name, w in windows.items():
            until = w.measured[-1].end
            reads.update(placement.window_reads(w.before or {}, w.after or {}, w.boundary or 0.0, until))
            cycles[self._source_of(name)] = len(w.measured)
            held_other += placement.held_elsewhere(w.after_reply or {}, self.owner_source)
        result = placement.polled_by_whom(reads, self.owner_source, cycles, ignore=self.dead)
        result["held_by_another_conductor"] = held_other
        result["inexact_windows"] = inexact
        result["windows"] = {n: {"since": w.boundary, "until": w.measured[-1].end, "cycles": len(w.measured),
                                 "opened_after": round(w.before_at - (w.boundary or w.before_at), 3),
                                 "closed_after": round(w.after_at - w.measured[-1].end, 3)}
                             for n, w in windows.items()}
        return result

    def run(self) -> dict[str, Any]:
        plan, stack = self.plan, self.stack
        t0 = time.monotonic()
        stack.launch()
        self.ready_at = time.time()
        self.record["start_seconds"] = round(time.monotonic() - t0, 2)
        rounds = RoundWatcher({c.name: Path(c.log) for c in stack.conductors})
        db_stats = (pgstats.DatabaseStats(stack.state.db_url, postgres.stats_database())
                    if stack.state.db == "postgresql" else None)
        sampler = Sampler(self._groups, counters=db_stats.read if db_stats else None).start()
        alive = lambda: all(stack.running().values())  # noqa: E731
        timeout = cycle_timeout(self.size, self.driver)
        warmup, measured = plan.cycles_for(self.driver, self.size)
        try:
            if self._placement_checked():
                self.progress.begin(f"  {self.tag}: predicting each node's conductor (hash ring)")
                self.record["prediction"] = self._predict()
            self.progress.begin(f"  {self.tag}: {warmup} warm-up and {measured} measured cycles "
                                f"per conductor")
            windows = self._collect(rounds, warmup, measured, timeout, alive)
            if self.owner_source is not None:
                self.record["placement"] = self._check_placement(windows, rounds)
            # Warm-up rounds first (the dead-BMC check counts cycles from the conductor's start).
            self.record["warmup"] = [
                self._cycle_record({name: w.warm[k] for name, w in windows.items()}, sampler)
                for k in range(min(len(w.warm) for w in windows.values()))]
            cycles = []
            for k in range(measured):
                c = self._cycle_record({name: w.measured[k] for name, w in windows.items()}, sampler)
                sql = f", {c['db_statements']} SQL statements" if "db_statements" in c else ""
                cpu = c.get("conductor_cpu_ms_per_node")
                self.progress.note(f"    round {k + 1}: {c['runtime']:.1f} s, "
                                   f"{'-' if cpu is None else f'{cpu:.2f}'} ms CPU/node, "
                                   f"polled {c['polled']}/{c['expected']}{sql}")
                cycles.append(c)
            self.record["cycles"] = cycles
            self.record["window"] = self._window_cpu(cycles, sampler)
            if plan.flips or self.dead:
                self.progress.begin(f"  {self.tag}: correctness checks")
                self.record["checks"] = checks.run_checks(self, rounds, sampler, timeout, alive)
            if plan.api_users:
                self.progress.begin(f"  {self.tag}: API load, {plan.api_users} "
                                    f"users for {plan.api_seconds:.0f} s during sync")
                self.record["api_load"] = self._api_load()
            if plan.profile_seconds:
                self.progress.begin(f"  {self.tag}: py-spy for {plan.profile_seconds:.0f} s")
                self.record["profile"] = self._profile()
            last = sampler.samples[-1].rss
            self.record["rss_mib"] = {g: round(sampler.peak_rss(g, 0, time.time()) / 2**20, 1)
                                      for g in ("conductor", "api") if g in last}
            # Every process apart: each conductor's worker, each API worker.
            self.record["rss_mib_processes"] = {
                g.partition(":")[2] if g.startswith("conductor:") else g:
                round(sampler.peak_rss(g, 0, time.time()) / 2**20, 1)
                for g in last if ":" in g}
            self.record["conductor_processes"] = [
                {"name": c.name, "registered_name": c.registered_name, "machine": c.machine,
                 "source_address": c.source_address, "log": c.log,
                 "predicted_nodes": (self.record.get("prediction") or {}).get("nodes_per_conductor", {})
                 .get(c.registered_name)} for c in stack.conductors]
        finally:  # the caller, which prepared the stack, stops it
            sampler.stop()
            if db_stats is not None:
                db_stats.close()
        return self.record

    def _window_cpu(self, cycles: list[dict[str, Any]], sampler: Sampler) -> dict[str, Any] | None:
        """All conductors' CPU from the first round's start to the last one's end (idle gaps and
        heartbeats included), per node per cycle."""
        if not cycles:
            return None
        start, end = cycles[0]["start"], cycles[-1]["end"]
        a, b = sampler.value_at("conductor", start), sampler.value_at("conductor", end)
        if a is None or b is None:
            return {"start": start, "end": end}
        return {"start": start, "end": end, "conductor_cpu_seconds": round(b - a, 3),
                "conductor_cpu_ms_per_node_per_cycle": round((b - a) * 1000 / self.size / len(cycles), 4)}

    def _cycle_record(self, round_: Cycle | dict[str, Cycle], sampler: Sampler) -> dict[str, Any]:
        """One cycle of every conductor (a round): the slowest sets the round's time."""
        if isinstance(round_, Cycle):
            round_ = {self.stack.conductors[0].name: round_}
        # The cycles have ended, but the sampler may not have a sample after their end yet:
        # read before it has, a cycle's CPU would be the last sample's value twice (0.0).
        db_end = max(c.end for c in round_.values()) + (DB_STATS_DELAY if sampler.counters else 0.0)
        sampler.wait_past(db_end)
        per: dict[str, dict[str, Any]] = {}
        for name, cyc in round_.items():
            entry: dict[str, Any] = {"runtime": cyc.runtime, "start": cyc.start, "end": cyc.end,
                                     "workers": cyc.workers}
            group = f"conductor:{name}"
            a, b = sampler.value_at(group, cyc.start), sampler.value_at(group, cyc.end)
            entry["cpu_seconds"] = None if a is None or b is None else round(b - a, 3)
            around = sampler.value_around(group, cyc.start, cyc.end)
            entry["cpu_seconds_max"] = None if around is None else round(around, 3)
            if cyc.classes is not None:
                entry["node_classes"], entry["bulk_line"] = cyc.classes, cyc.bulk_line
            per[name] = entry
        summary = placement.round_summary(self.size, per)
        start, end = summary["start"], summary["end"]
        first = next(iter(round_.values()))
        reads = self.fleet.control.status_reads(start - WINDOW_SLACK, end + WINDOW_SLACK)
        # Dead BMCs never answer, so every one of them is always among the missed.
        rec: dict[str, Any] = {
            "index": len(self.all_cycles), "runtime": summary["runtime"], "start": start, "end": end,
            "workers": first.workers,
            "polled": reads["polled"], "expected": self.size - len(self.dead),
            "status_reads": reads["reads"], "missed_live": reads["missed_count"] - len(self.dead),
            "missed_live_examples": [k for k in reads["missed"] if k not in self.dead][:10],
            "sync_nodes_per_second": summary["sync_nodes_per_second"],
        }
        if len(per) > 1:
            rec["fastest_conductor_runtime"] = summary["fastest_conductor_runtime"]
        rec["per_conductor"] = per
        if summary["conductor_cpu_seconds"] is not None:
            rec["conductor_cpu_seconds"] = summary["conductor_cpu_seconds"]
        if summary["conductor_cpu_seconds_max"] is not None:
            # Interpolation shares a sampling interval's CPU out evenly; a cycle much shorter
            # than the interval gets too little of it. The samples around each cycle bound it.
            rec["conductor_cpu_seconds_max"] = summary["conductor_cpu_seconds_max"]
        for group in ("api", "sim"):
            a, b = sampler.value_at(group, start), sampler.value_at(group, end)
            if a is not None and b is not None:
                rec[f"{group}_cpu_seconds"] = round(b - a, 3)
        rows = sampler.value_around("db_rows_read", start, db_end)  # PostgreSQL only
        if rows is not None:
            rec["db_rows_read"] = round(rows)
        for counter in STATEMENT_COUNTERS:  # PostgreSQL only: from the samples around the round
            grown = sampler.value_around(counter, start, end)
            if grown is not None:
                rec[counter] = round(grown)
        classes = [e["node_classes"] for e in per.values() if e.get("node_classes") is not None]
        if classes:  # the patched Ironic's bulk-sync line(s), summed over the conductors
            rec["node_classes"] = {k: sum(c.get(k, 0) for c in classes)
                                   for k in dict.fromkeys(k for c in classes for k in c)}
            rec["bulk_line"] = next(e["bulk_line"] for e in per.values() if e.get("node_classes") is not None)
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

        suffix = f"-c{self.stack.spec.conductors}" if self.stack.spec.conductors > 1 else ""
        path = self.stack.work.parent / f"flame-{self.size}{suffix}-{self.driver}.svg"
        return record_pid(self.stack.worker_pid(self.stack.conductors[0].name), str(path),
                          self.plan.profile_seconds)


def _driver_run(plan: DensityPlan, size: int, driver: str, fleet: RunningFleet,
                endpoints: list[inventory.Endpoint], progress: Progress,
                patched_ironic: Path | None = None, conductors: int = 1) -> dict[str, Any]:
    """A fresh database per series, so all start alike (no maintenance or retry counts left
    over from another series' dead-BMC checks)."""
    variant = VARIANTS[driver]
    python_path = (str(patched_ironic),) if variant.patched and patched_ironic else ()
    if variant.patched and not python_path:
        raise ValueError(f"series {driver} needs a patched copy of Ironic (patched.make_copy)")
    # One conductor keeps the work directory it always had.
    work = plan.work / (f"n{size}-{driver}" if conductors == 1 else f"n{size}-c{conductors}-{driver}")
    spec = StackSpec(work=work, db=plan.db, sync_interval=plan.sync_interval,
                     conductor_base=plan.conductor_base, options=stack_options(variant, plan.options),
                     python_path=python_path, conductors=conductors,
                     per_host=plan.per_host if conductors > 1 else 1,
                     rpc=plan.rpc if plan.db != "sqlite" else "json-rpc")
    stack = Stack(spec)
    stack.prepare()
    try:
        enrolled = enroll.run_enroll(stack.config_files(), plan.work / f"inventory-{size}.jsonl",
                                     variant.driver, python_path=python_path)
        progress.note(f"  {driver}, {conductors} conductor(s): enrolled {enrolled.get('created')} nodes "
                      f"in {enrolled.get('seconds')} s")
        # Sessions of the previous series' conductors are gone with them: forget them on the
        # BMCs too, so that who holds a session says something about this stack.
        fleet.control.slots(drop=True)
        record = DriverRun(plan, size, driver, stack, fleet, endpoints, progress).run()
        record["enrollment"] = enrolled
        return record
    finally:
        stack.stop()
        if stack.state:
            stack.drop_database()


def run(plan: DensityPlan, progress: Progress) -> list[dict[str, Any]]:
    """Every size x conductor count x series; returns one record each."""
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
            for conductors in plan.conductor_counts:
                for driver in plan.drivers:
                    records.append(_driver_run(plan, size, driver, fleet, endpoints, progress, patched_ironic,
                                               conductors))
    return records
