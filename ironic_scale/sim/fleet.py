"""One simulator process: many BMC sockets on one asyncio (epoll) loop.

Sockets are registered with ``loop.add_reader`` rather than asyncio datagram
transports: a transport costs a protocol object, a coroutine and a buffer per
endpoint, which for 12,000 endpoints doubles start-up time and memory.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import random
import resource
import socket
import time
from collections import Counter
from typing import Any

from ironic_scale.sim.behaviour import Behaviour
from ironic_scale.sim.bmc import ACTIVE, LAST_STATUS, LOGINS, STATUS_READS, Bmc
from ironic_scale.sim.control import encode
from ironic_scale.sim.inventory import Endpoint

LOG = logging.getLogger(__name__)
SWEEP_INTERVAL = 1.0  # seconds between idle-session sweeps
MISSED_LISTED = 100  # unpolled BMCs named in a status_reads reply (the count is always exact)


def note_slots(bmc: Bmc) -> None:
    """Raise the BMC's high-water marks to the sessions it holds now: every session
    in the table (a half-open handshake occupies a slot) and the ACTIVE ones."""
    held = len(bmc.sessions)
    if held > bmc.slots_peak:
        bmc.slots_peak = held
    active = sum(s.state == ACTIVE for s in bmc.sessions.values())
    if active > bmc.active_peak:
        bmc.active_peak = active


def _histogram(values: list[int]) -> dict[str, int]:
    """How many BMCs at each value, keys as text (JSON), in ascending order."""
    return {str(k): n for k, n in sorted(Counter(values).items())}


def merge_slots(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``slots`` reply from those of several worker processes."""
    def hist(key: str) -> dict[str, int]:
        total: Counter = Counter()
        for r in replies:
            total.update(r[key])
        return {str(k): total[str(k)] for k in sorted(int(k) for k in total)}

    return {"bmcs": sum(r["bmcs"] for r in replies),
            "max": max((r["max"] for r in replies), default=0),
            "max_active": max((r["max_active"] for r in replies), default=0),
            "peaks": hist("peaks"), "active_peaks": hist("active_peaks"),
            "held": sum(r["held"] for r in replies),
            "held_max": max((r["held_max"] for r in replies), default=0),
            "no_slot": sum(r["no_slot"] for r in replies),
            "dropped": sum(r["dropped"] for r in replies)}


def _source_totals() -> dict[str, Any]:
    return {"bmcs": 0, "logins": 0, "status_reads": 0, "last_status": None, "held": 0,
            "bmcs_held": 0}


def _add_source(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key in ("bmcs", "logins", "status_reads", "held", "bmcs_held"):
        total[key] += part[key]
    if part["last_status"] is not None and (total["last_status"] is None
                                            or part["last_status"] > total["last_status"]):
        total["last_status"] = part["last_status"]


def merge_requesters(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``requesters`` reply from those of several worker processes."""
    sources: dict[str, dict[str, Any]] = {}
    for r in replies:
        for ip, part in r["sources"].items():
            _add_source(sources.setdefault(ip, _source_totals()), part)
    merged = {"now": max((r["now"] for r in replies), default=time.monotonic()),
              "bmcs": sum(r["bmcs"] for r in replies),
              "sources": dict(sorted(sources.items())),
              "held_max": max((r["held_max"] for r in replies), default=0),
              "shared_now": sum(r["shared_now"] for r in replies),
              "sources_peak": max((r["sources_peak"] for r in replies), default=0)}
    if all("requesters" in r for r in replies):
        merged["requesters"] = {k: v for r in replies for k, v in r["requesters"].items()}
    return merged


class StartupError(RuntimeError):
    """A one-line reason the fleet cannot start (address in use, no fds...)."""


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one; return the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Fleet:
    """The BMCs of one process, their sockets, and their control requests."""

    def __init__(self, endpoints: list[Endpoint], behaviour: Behaviour, slow: Behaviour,
                 seed: int):
        self.counters: Counter = Counter()
        self.rng = random.Random(seed)
        self.bmcs: dict[str, Bmc] = {}
        for ep in endpoints:
            b = slow if ep.slow else behaviour
            if ep.dead:
                b = b.changed(dead=True)
            self.bmcs[ep.key] = Bmc(ep.key, ep.username, ep.password, b, self.counters, self.rng,
                                    power_on=ep.power == "on")
        self.endpoints = endpoints
        self.sockets: list[socket.socket] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped = asyncio.Event()
        self.started = time.monotonic()
        self.no_slot_base = 0  # login.no_slot when the slot marks were last reset

    # -- sockets ---------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        for ep in self.endpoints:
            try:
                family = socket.AF_INET6 if ":" in ep.address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                    raise StartupError(
                        f"out of file descriptors after {len(self.sockets)} endpoints "
                        f"(limit {limit} per process): use more --processes") from None
                raise
            try:
                sock.setblocking(False)
                sock.bind((ep.address, ep.port))
            except OSError as e:
                sock.close()
                hint = {errno.EADDRINUSE: " (is another simulator or ipmi_sim running?)",
                        errno.EACCES: " (ports below 1024 need root: use --port 6230)",
                        errno.EADDRNOTAVAIL: " (only 127.0.0.0/8 and ::1 are served)"}.get(e.errno, "")
                raise StartupError(f"cannot listen on {ep.key}: {e.strerror}{hint}") from None
            self.sockets.append(sock)
            loop.add_reader(sock.fileno(), self._readable, sock, self.bmcs[ep.key])
        loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _readable(self, sock: socket.socket, bmc: Bmc) -> None:
        now = time.monotonic()
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except BlockingIOError:
                return
            except OSError:
                self.counters["drop.recv_error"] += 1
                return
            b = bmc.behaviour
            if b.dead or now < bmc.down_until:
                self.counters["drop.dead"] += 1
                continue
            if b.loss and self.rng.random() < b.loss:
                self.counters["drop.loss"] += 1
                continue
            try:
                reply = bmc.handle(data, peer, now)
            except Exception:  # noqa: BLE001 - one bad packet must not cost the other BMCs
                self.counters["drop.handler_error"] += 1
                if self.counters["drop.handler_error"] == 1:
                    LOG.exception("simulated BMC %s failed on a request; dropped", bmc.name)
                reply = None
            if len(bmc.sessions) > bmc.active_peak:  # else neither high-water mark can rise
                note_slots(bmc)
            if reply is None:
                continue
            for datagram in reply if isinstance(reply, list) else (reply,):
                delay = b.latency.sample(self.rng) if b.latency.a else 0.0
                if delay:
                    self.loop.call_later(delay, self._send, sock, datagram, peer)
                else:
                    self._send(sock, datagram, peer)

    def _send(self, sock: socket.socket, reply: bytes, peer: tuple[str, int]) -> None:
        try:
            sock.sendto(reply, peer)
            self.counters["replies"] += 1
        except OSError:
            self.counters["drop.send_error"] += 1

    def _sweep(self) -> None:
        now = time.monotonic()
        for bmc in self.bmcs.values():
            if bmc.sessions:
                bmc.expire_sessions(now)
        self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def close(self) -> None:
        for sock in self.sockets:
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()

    # -- control ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Counters of this process, for the control channel and the exit report."""
        return {
            "endpoints": len(self.bmcs),
            "live_sessions": sum(len(b.sessions) for b in self.bmcs.values()),
            "cpu_seconds": cpu_seconds(),
            "rss_bytes": rss_bytes(),
            **self.counters,
        }

    def _targets(self, addresses: list[str] | None) -> list[Bmc]:
        if addresses is None:
            return list(self.bmcs.values())
        missing = [a for a in addresses if a not in self.bmcs]
        if missing:
            raise ValueError(f"no simulated BMC at {', '.join(missing[:5])}")
        return [self.bmcs[a] for a in addresses]

    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        op, now = req.get("op"), time.monotonic()
        if op == "counters":
            return {"counters": self.snapshot()}
        if op == "set":
            knobs = dict(req.get("knobs") or {})
            creds = {k: str(knobs.pop(k)) for k in ("username", "password") if k in knobs}
            targets = self._targets(req.get("addresses"))
            for bmc in targets:
                if knobs:
                    bmc.behaviour = bmc.behaviour.changed(**knobs)
                for k, v in creds.items():
                    setattr(bmc, k, v.encode())
            return {"changed": len(targets)}
        if op == "power":
            if req.get("state") not in ("on", "off"):
                raise ValueError("power state must be 'on' or 'off'")
            targets = self._targets(req.get("addresses"))
            for bmc in targets:
                bmc.power_out_of_band(req["state"] == "on")
            return {"changed": len(targets)}
        if op == "reboot":
            targets = self._targets(req.get("addresses"))
            for bmc in targets:
                bmc.reboot_bmc(now, float(req.get("downtime") or 0))
            return {"changed": len(targets)}
        if op == "state":
            (bmc,) = self._targets([req.get("address")])
            return {"state": {
                "power": "on" if bmc.is_powered(now) else "off",
                "boot_flags": bytes(bmc.active_boot_flags(now)).hex(),
                "boot_flag_clearing": bmc.boot_flag_clearing,
                "last_boot_device": bmc.last_boot_device,
                "sessions": len(bmc.sessions),
                "power_actions": dict(bmc.power_actions),
                "power_log": [[round(t, 3), action] for t, action in bmc.power_log],
                # Wall-clock time of the latest out-of-band change (the ``power`` op), or None.
                "out_of_band_at": None if bmc.out_of_band_at is None else round(bmc.out_of_band_at, 3),
                "behaviour": bmc.behaviour.describe(),
            }}
        if op == "status_reads":
            since, until = float(req["since"]), float(req.get("until") or time.time())
            counts = {key: bmc.status_reads_between(since, until) for key, bmc in self.bmcs.items()}
            missed = sorted(k for k, n in counts.items() if n == 0)
            return {"polled": len(counts) - len(missed), "reads": sum(counts.values()),
                    "missed": missed[:MISSED_LISTED], "missed_count": len(missed)}
        if op == "slots":
            return self._slots(self._targets(req.get("addresses")), bool(req.get("reset")),
                               bool(req.get("drop")))
        if op == "requesters":
            return self._requesters(req.get("addresses"), bool(req.get("reset")),
                                    req.get("detail", True) is not False)
        if op == "stop":
            self.stopped.set()
            return {"counters": self.snapshot()}
        raise ValueError(f"unknown control op {op!r}")

    def _slots(self, targets: list[Bmc], reset: bool, drop: bool) -> dict[str, Any]:
        """Session slots: each BMC's high-water marks since the last reset, as a maximum
        and a distribution; sessions held now; Open Sessions refused for want of a slot
        since the last reset (this process, all its BMCs).

        ``reset`` then starts new marks from what each BMC holds; ``drop`` first forgets
        every session, as an idle timeout would (a benchmark's previous client is gone).
        """
        held = [len(b.sessions) for b in targets]
        reply = {"bmcs": len(targets),
                 "max": max((b.slots_peak for b in targets), default=0),
                 "max_active": max((b.active_peak for b in targets), default=0),
                 "peaks": _histogram([b.slots_peak for b in targets]),
                 "active_peaks": _histogram([b.active_peak for b in targets]),
                 "held": sum(held), "held_max": max(held, default=0),
                 "no_slot": self.counters["login.no_slot"] - self.no_slot_base, "dropped": 0}
        if drop:
            reply["dropped"] = sum(held)
            self.counters["session.dropped_by_control"] += sum(held)
            for b in targets:
                b.sessions.clear()
        if reset:
            self.no_slot_base = self.counters["login.no_slot"]
            for b in targets:
                b.slots_peak = b.active_peak = 0
                note_slots(b)
        return reply

    def _requesters(self, addresses: list[str] | None, reset: bool, detail: bool) -> dict[str, Any]:
        """Who asked each BMC, by client source address, and who holds its sessions now.

        Per BMC (``requesters``, with ``detail``): ``sources`` maps a source address to
        its ``logins`` (sessions activated), ``status_reads`` (Get Chassis Status) and
        ``last_status`` (monotonic time of the latest, or None) since the last reset;
        ``held`` maps a source to the session slots it holds now (half-open handshakes
        too); ``sessions`` lists them (source, port, state, opened, last_seen);
        ``sources_peak`` is the most sources that held active sessions at once since
        the last reset. Without ``addresses`` only BMCs with something to show are listed.

        Totals: ``sources`` per source address over the BMCs (``bmcs`` asked, ``held``
        slots, ``bmcs_held``), ``held_max`` (most slots one BMC holds now), ``shared_now``
        (BMCs whose active sessions come from more than one source now) and
        ``sources_peak``. Times are this host's ``time.monotonic()``, as ``now``.
        ``reset`` (after reading) clears the counts and restarts the peaks from now.
        """
        now = time.monotonic()
        targets = self._targets(addresses)
        sources: dict[str, dict[str, Any]] = {}
        listed: dict[str, Any] = {}
        held_max = shared = peak = 0
        for b in targets:
            if b.sessions:
                b.expire_sessions(now)  # what a client would find: no session past its timeout
            held: dict[str, int] = {}
            for sess in b.sessions.values():
                held[sess.peer[0]] = held.get(sess.peer[0], 0) + 1
            held_max = max(held_max, len(b.sessions))
            holding = b.sources_holding()
            shared += holding > 1
            peak = max(peak, b.sources_peak, holding)
            for ip in held.keys() | b.requesters.keys():
                entry = b.requesters.get(ip, (0, 0, None))
                _add_source(sources.setdefault(ip, _source_totals()), {
                    "bmcs": 1, "logins": entry[LOGINS], "status_reads": entry[STATUS_READS],
                    "last_status": entry[LAST_STATUS], "held": held.get(ip, 0),
                    "bmcs_held": int(ip in held)})
            if detail and (addresses is not None or held or b.requesters):
                listed[b.name] = {
                    "sources": {ip: {"logins": e[LOGINS], "status_reads": e[STATUS_READS],
                                     "last_status": e[LAST_STATUS]}
                                for ip, e in sorted(b.requesters.items())},
                    "held": dict(sorted(held.items())),
                    "sessions": sorted(({"source": x.peer[0], "port": x.peer[1],
                                         "state": "active" if x.state == ACTIVE else "handshake",
                                         "opened": x.opened, "last_seen": x.last_seen}
                                        for x in b.sessions.values()),
                                       key=lambda x: (x["opened"], x["source"], x["port"])),
                    "sources_peak": max(b.sources_peak, holding)}
        reply: dict[str, Any] = {"now": now, "bmcs": len(targets), "sources": dict(sorted(sources.items())),
                                 "held_max": held_max, "shared_now": shared, "sources_peak": peak}
        if detail:
            reply["requesters"] = listed
        if reset:
            for b in targets:
                b.requesters.clear()
                b.sources_peak = b.sources_holding()
        return reply

    async def serve_control(self, path: str) -> asyncio.AbstractServer:
        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await reader.readline():
                    try:
                        reply = {"ok": True, **self.control(json.loads(line))}
                    except (ValueError, TypeError, KeyError) as e:
                        reply = {"ok": False, "error": str(e)}
                    writer.write(encode(reply))
                    await writer.drain()
            finally:
                writer.close()
        return await asyncio.start_unix_server(client, path)
