"""Run a fleet across worker processes and front them with one control socket.

The per-process ceiling is the open-files limit (one UDP socket per BMC), so
large fleets are split into contiguous slices, one per worker. The parent
forwards control requests to the workers that own the named BMCs.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ironic_scale.sim import inventory
from ironic_scale.sim.behaviour import Behaviour
from ironic_scale.sim.control import encode
from ironic_scale.sim.fleet import (
    MISSED_LISTED,
    Fleet,
    StartupError,
    merge_requesters,
    merge_slots,
    raise_fd_limit,
)
from ironic_scale.sim.inventory import Endpoint

FDS_RESERVED = 64  # descriptors a worker keeps for itself (control, pipes, stdio)
START_TIMEOUT = 120.0
REPLY_LIMIT = 2**28  # bytes of one worker's control reply (a requesters reply lists every BMC)


@dataclass
class FleetPlan:
    """Everything needed to start a fleet; built from CLI arguments."""

    count: int
    base_address: str = "127.1.0.1"
    port: int = 623
    per_port: bool = False  # one address, consecutive ports
    username: str = "admin"
    password: str = "password"
    power: str = "off"
    dead_fraction: float = 0.0
    slow_fraction: float = 0.0
    behaviour: Behaviour = field(default_factory=Behaviour)
    slow_behaviour: Behaviour | None = None
    processes: int | None = None  # None: as few as the fd limit allows
    seed: int = 0

    def endpoints(self) -> list[Endpoint]:
        if self.count < 1:
            raise ValueError("--count must be at least 1")
        if self.per_port:
            if self.port + self.count - 1 > 65535:
                raise ValueError(f"{self.count} ports from {self.port} exceed 65535")
            (address,) = inventory.loopback_addresses(self.base_address, 1)
            places = [(address, self.port + i) for i in range(self.count)]
        else:
            places = [(a, self.port) for a in inventory.loopback_addresses(self.base_address, self.count)]
        rng = random.Random(self.seed)
        n_dead = round(self.count * self.dead_fraction)
        n_slow = round(self.count * self.slow_fraction)
        picked = rng.sample(range(self.count), n_dead + n_slow)
        dead, slow = set(picked[:n_dead]), set(picked[n_dead:])
        return [Endpoint(a, p, self.username, self.password, self.power, i in dead, i in slow)
                for i, (a, p) in enumerate(places)]

    def process_count(self) -> int:
        per_process = raise_fd_limit() - FDS_RESERVED
        needed = math.ceil(self.count / per_process)
        if self.processes is None:
            return needed
        if self.processes < needed:
            raise ValueError(f"{self.count} BMCs need at least {needed} processes "
                             f"(open-files limit allows {per_process} per process)")
        return min(self.processes, self.count)


def _worker(endpoints: list[Endpoint], plan: FleetPlan, seed: int, control_path: str,
            conn: Any) -> None:
    """Body of one worker process: bind, report ready (or why not), serve."""
    # The parent decides when to stop, even when a signal hits the whole
    # process group (timeout(1), systemd): it still needs our counters.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise_fd_limit()
    loop = asyncio.new_event_loop()
    fleet = Fleet(endpoints, plan.behaviour, plan.slow_behaviour or plan.behaviour, seed)
    try:
        fleet.bind(loop)
        server = loop.run_until_complete(fleet.serve_control(control_path))
    except StartupError as e:
        conn.send(("error", str(e)))
        return
    conn.send(("ready", fleet.snapshot()))
    loop.run_until_complete(fleet.stopped.wait())
    server.close()
    fleet.close()


class Supervisor:
    """Starts the workers, writes the inventory, routes control requests."""

    def __init__(self, plan: FleetPlan, run_dir: str, inventory_path: str, control_path: str):
        self.plan = plan
        self.run_dir = run_dir
        self.inventory_path = inventory_path
        self.control_path = control_path
        self.workers: list[tuple[multiprocessing.Process, str]] = []
        self.owner: dict[str, int] = {}  # endpoint key -> worker index
        self.startup_seconds = 0.0
        self.final: dict[str, Any] | None = None

    def start(self) -> list[dict[str, Any]]:
        """Start every worker; raise StartupError with the first worker's reason."""
        t0 = time.monotonic()
        endpoints = self.plan.endpoints()
        n = self.plan.process_count()
        size = math.ceil(len(endpoints) / n)
        ctx = multiprocessing.get_context("fork")  # the parent has no threads yet
        pipes = []
        for i in range(n):
            chunk = endpoints[i * size : (i + 1) * size]
            path = os.path.join(self.run_dir, f"worker-{i}.sock")
            parent_end, child_end = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(chunk, self.plan, self.plan.seed + i + 1, path,
                                                     child_end), daemon=True)
            proc.start()
            child_end.close()
            pipes.append(parent_end)
            self.workers.append((proc, path))
            for ep in chunk:
                self.owner[ep.key] = i
        snapshots, deadline = [], time.monotonic() + START_TIMEOUT
        try:
            for (proc, _), pipe in zip(self.workers, pipes, strict=True):
                if not pipe.poll(max(0.0, deadline - time.monotonic())):
                    raise StartupError(f"a worker did not start within {START_TIMEOUT:.0f} s")
                try:
                    kind, payload = pipe.recv()
                except EOFError:
                    raise StartupError(f"a worker died while starting (exit code {proc.exitcode})") from None
                if kind == "error":
                    raise StartupError(payload)
                snapshots.append(payload)
        except StartupError:
            self.kill()
            raise
        inventory.write(self.inventory_path, endpoints)
        self.startup_seconds = time.monotonic() - t0
        return snapshots

    def kill(self) -> None:
        for proc, _ in self.workers:
            if proc.is_alive():
                proc.kill()
            proc.join()

    # -- control routing ---------------------------------------------------------

    async def _ask(self, index: int, request: dict[str, Any]) -> dict[str, Any]:
        reader, writer = await asyncio.open_unix_connection(self.workers[index][1],
                                                            limit=REPLY_LIMIT)
        try:
            writer.write(encode(request))
            await writer.drain()
            reply = json.loads(await reader.readline())
        finally:
            writer.close()
        if not reply.get("ok"):
            raise ValueError(reply.get("error"))
        return reply

    async def _fan_out(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        addresses = request.get("addresses")
        if request.get("op") == "state":
            addresses = [request.get("address")]
        if addresses is None:
            targets = {i: request for i in range(len(self.workers))}
        else:
            unknown = [a for a in addresses if a not in self.owner]
            if unknown:
                raise ValueError(f"no simulated BMC at {', '.join(map(str, unknown[:5]))}")
            groups: dict[int, list[str]] = {}
            for a in addresses:
                groups.setdefault(self.owner[a], []).append(a)
            targets = {i: ({**request, "addresses": g} if "addresses" in request else request)
                       for i, g in groups.items()}
        return list(await asyncio.gather(*(self._ask(i, r) for i, r in targets.items())))

    def merged_counters(self, per_worker: list[dict[str, Any]]) -> dict[str, Any]:
        total: dict[str, Any] = {"processes": len(self.workers),
                                 "startup_seconds": round(self.startup_seconds, 3)}
        for snap in per_worker:
            for k, v in snap.items():
                total[k] = total.get(k, 0) + v
        return total

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        replies = await self._fan_out(request if op != "stop" else {"op": "counters"})
        if op in ("counters", "stop"):
            counters = self.merged_counters([r["counters"] for r in replies])
            if op == "stop":
                self.final = counters
                self.stopping.set()
            return {"counters": counters}
        if op == "state":
            return {"state": replies[0]["state"]}
        if op == "status_reads":
            missed = sorted(k for r in replies for k in r["missed"])
            return {"polled": sum(r["polled"] for r in replies), "reads": sum(r["reads"] for r in replies),
                    "missed": missed[:MISSED_LISTED], "missed_count": sum(r["missed_count"] for r in replies)}
        if op == "slots":
            return merge_slots(replies)
        if op == "requesters":
            return merge_requesters(replies)
        return {"changed": sum(r["changed"] for r in replies)}

    async def serve(self, duration: float | None, on_ready: Callable[[], None]) -> dict[str, Any]:
        """Serve the control socket until SIGTERM/SIGINT, ``stop`` or ``duration``.

        ``on_ready`` runs once the socket listens: only then may anyone be told.
        """
        self.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        if duration is not None:
            loop.call_later(duration, self.stopping.set)

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await reader.readline():
                    try:
                        reply = {"ok": True, **await self.handle(json.loads(line))}
                    except (ValueError, TypeError, KeyError, OSError) as e:
                        reply = {"ok": False, "error": str(e)}
                    writer.write(encode(reply))
                    await writer.drain()
            finally:
                writer.close()

        server = await asyncio.start_unix_server(client, self.control_path)
        on_ready()
        await self.stopping.wait()
        server.close()
        if self.final is None:
            replies = await asyncio.gather(
                *(self._ask(i, {"op": "counters"}) for i in range(len(self.workers))),
                return_exceptions=True)
            lost = sum(isinstance(r, BaseException) for r in replies)
            self.final = self.merged_counters(
                [r["counters"] for r in replies if not isinstance(r, BaseException)])
            if lost:
                self.final["workers_lost"] = lost
        await asyncio.gather(*(self._ask(i, {"op": "stop"}) for i in range(len(self.workers))),
                             return_exceptions=True)
        for proc, _ in self.workers:
            proc.join(timeout=10)
        self.kill()
        return self.final


def format_counters(c: dict[str, Any]) -> str:
    """The exit report: one counter a line, grouped by prefix."""
    lines = [f"{'counter':<36} {'value':>14}"]
    for key in sorted(c, key=lambda k: (k.count("."), k)):
        value = c[key]
        text = f"{value:.3f}" if isinstance(value, float) else f"{value}"
        lines.append(f"{key:<36} {text:>14}")
    return "\n".join(lines)


def run(plan: FleetPlan, run_dir: str, inventory_path: str, control_path: str,
        duration: float | None, counters_json: str | None) -> int:
    sup = Supervisor(plan, run_dir, inventory_path, control_path)
    snapshots = sup.start()
    rss = sum(s["rss_bytes"] for s in snapshots)

    def ready() -> None:
        print(f"ready: {plan.count} BMCs on {len(snapshots)} process(es) in "
              f"{sup.startup_seconds:.1f} s, RSS {rss / 2**20:.0f} MiB; "
              f"inventory {inventory_path}; control {control_path}", flush=True)

    final = asyncio.run(sup.serve(duration, ready))
    if counters_json:
        with open(counters_json, "w") as f:
            json.dump(final, f, indent=1, sort_keys=True)
    print(format_counters(final), file=sys.stdout, flush=True)
    return 0
