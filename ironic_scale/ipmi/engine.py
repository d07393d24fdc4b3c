"""The IO engine: one thread, epoll, a few UDP sockets, every session's state.

Callers in any thread submit requests and wait on a Future; sessions are
touched only under one lock (``_state``) that the engine thread holds except
while it waits in epoll, so there is nothing to deadlock and no wake-up to
lose. A blocking ``call`` that finds the engine idle takes that lock without
waiting and sends its request itself (one thread hand-off per call instead of
two); otherwise, and for everything else, it queues a job for the IO thread.
Replies are routed by our own console session id (unique per session), or by
peer for the one pre-session reply, so a handful of sockets serves any number
of BMCs and no descriptor ever approaches select()'s 1024 ceiling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import heapq
import ipaddress
import itertools
import logging
import os
import random
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.resolver import Peer, Resolver, is_ipv6, numeric_peer
from ironic_scale.ipmi.session import (
    ACTIVE,
    AUTHCAP,
    IDLE,
    OPENING,
    RAKP1_SENT,
    RAKP3_SENT,
    SETPRIV,
    STATE_NAMES,
    Call,
    ClientSession,
)
from ironic_scale.ipmi.waiters import Batch, OneAnswer, Waiter
from ironic_scale.rmcp import wire

LOG = logging.getLogger(__name__)
HANDSHAKE = (OPENING, RAKP1_SENT, RAKP3_SENT)
LOGGING_IN = (AUTHCAP, *HANDSHAKE, SETPRIV)
MAINTENANCE_INTERVAL = 1.0
RCVBUF = 8 * 2**20
LOGOUT_COPIES = 3  # Close Session datagrams sent when a session is dropped


@dataclass
class EngineConfig:
    sockets: int = 4  # UDP sockets shared by all sessions
    retry_interval: float = 1.0  # seconds before a request is retransmitted
    keepalive_interval: float = 25.0  # idle seconds before a Get Device ID keepalive; 0: never
    idle_timeout: float = 600.0  # seconds without caller traffic before logout
    max_sessions: int = 30000  # least recently used sessions beyond this are logged out
    min_command_interval: float = 0.0  # seconds between the starts of two commands to one BMC
    # Local address the engine's sockets send from (bound with port 0), so a BMC sees
    # which conductor asks; None: the kernel picks. Only used for BMCs of its family
    # (the sockets of the other family bind to the wildcard address).
    source_address: str | None = None


def check_source_address(address: str | None) -> str | None:
    """The canonical form of a source address for the engine's sockets, or None if unset.

    :raises: ValueError with a one-line reason: not a numeric IP address (host names
        are refused: the address must not change under a running engine), not a
        unicast address, or not an address of this host (it cannot be bound).
    """
    if address is None or not str(address).strip():
        return None
    text = str(address).strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"source address {text!r} is not an IPv4 or IPv6 address") from None
    if ip.is_unspecified:
        raise ValueError(f"source address {text} is the wildcard address; leave the source "
                         "address unset to let the kernel pick one")
    if ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError(f"source address {text} is not a unicast address")
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(ip), 0))
    except OSError as e:
        raise ValueError(f"source address {text} cannot be bound on this host: "
                         f"{e.strerror or e}") from None
    return str(ip)


def bind_address(source: str | None, family: int) -> str:
    """What a socket of ``family`` binds to: ``source`` if of that family, else any address.

    A source of the other family is not an error: it only applies to BMCs of its own
    family (the engine keeps sockets of both families, an IPv4 source leaves the IPv6
    ones on the wildcard and vice versa).
    """
    wildcard = "0.0.0.0" if family == socket.AF_INET else "::"
    if source is None:
        return wildcard
    version = ipaddress.ip_address(source).version
    matches = (version == 4) == (family == socket.AF_INET)
    return source if matches else wildcard


class Engine:
    """Persistent RMCP+ sessions to many BMCs behind a thread-safe ``submit``."""

    def __init__(self, config: EngineConfig | None = None):
        """:raises: ValueError for a source address this host cannot send from."""
        self.config = config or EngineConfig()
        if self.config.source_address is not None:
            self.config = dataclasses.replace(
                self.config, source_address=check_source_address(self.config.source_address))
        self.counters: Counter = Counter()
        self._jobs: deque[tuple] = deque()
        self._lock = threading.Lock()  # guards thread start and shutdown only
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Held by the IO thread except while it waits in epoll; whoever holds it may touch
        # sessions, timers and counters. A caller starting a call only tries it (else the
        # IO thread sends); a caller leading a socket (_lead) blocks on it for moments,
        # to route what arrived and to hand the socket back.
        self._state = threading.Lock()
        self._wake_at = 0.0  # when the IO thread's current epoll wait ends at the latest
        self._closed = False  # shut down for good: new requests fail at once
        # Releasing: every session is logged out as soon as it has nothing to do (the
        # process is about to end). Set by release_sessions(), before or in the IO thread.
        self._releasing = False
        self._sessions: dict[tuple, ClientSession] = {}
        self._by_sid: dict[int, ClientSession] = {}
        # Sessions logging in, by (socket, peer): pre-session replies that do not
        # carry our session id (Get Channel Auth Caps, some BMCs' refusals) go here.
        self._logging_in: dict[tuple[int, tuple[str, int]], list[ClientSession]] = {}
        self._batches: set[Batch] = set()  # sweeps not finished yet (under _state)
        self._refill: list[Batch] = []  # batches with a free window slot (under _state)
        self._timers: list[tuple[float, int, ClientSession]] = []
        self._armed: dict[int, float] = {}  # id(session) -> time of its live timer entry
        self._tick = itertools.count()
        self._next_maintenance = 0.0
        self._epoll: select.epoll | None = None
        self._socks: list[socket.socket] = []
        self._v6_socks: list[int] = []  # indices in _socks of the IPv6 sockets (after the IPv4 ones)
        self._wake = -1
        # Per socket: whether a caller reads it now (``_lead``), that caller's eventfd
        # and its poll set (the socket and the eventfd).
        self._led: list[bool] = []
        self._lead_wakes: list[int] = []
        self._lead_polls: list[Any] = []
        self._resolver = Resolver()
        # Bound once: every session keeps these two, and a bound method per session is ~130 bytes.
        self._hooks = (self._send, self._other_sessions)

    # -- caller side (any thread) --------------------------------------------------

    def submit(self, creds: BmcCredentials, netfn: int, cmd: int, data: bytes = b"",
               timeout: float = 10.0, lun: int = 0) -> Future:
        """Queue one request; the Future gets the response data or an IPMIError.

        :raises: ValueError for a request no BMC could be sent (checked here,
            in the caller's thread, so nothing a caller passes fails in the IO thread).
        """
        future: Future = Future()
        self._submit(creds, netfn, cmd, data, timeout, lun, future)
        return future

    def call(self, creds: BmcCredentials, netfn: int, cmd: int, data: bytes = b"",
             timeout: float = 10.0, lun: int = 0) -> bytes:
        """Send one request and wait for its answer (raises IPMIError)."""
        waiter = OneAnswer()  # one lock, not a Future's condition: this is every power poll
        lead = self._start_here(creds, netfn, cmd, data, timeout, lun, waiter)
        if lead is None:
            self._submit(creds, netfn, cmd, data, timeout, lun, waiter)
        elif lead:
            self._lead(waiter, *lead)
        # The engine resolves every call by its deadline; the margin only
        # covers a stopped engine, which must not hang a conductor thread.
        return waiter.wait(timeout + 5.0)

    def submit_many(self, creds: Sequence[BmcCredentials], netfn: int, cmd: int, data: bytes = b"",
                    timeout: float = 10.0, window: int = 512, lun: int = 0) -> Future:
        """One request to each BMC in ``creds``, run as one job: one hand-off for the lot.

        The Future gets a list in the order of ``creds``: each BMC's response data,
        or the IPMIError why it has none. At most ``window`` requests are in flight;
        each gets ``timeout`` from when it starts (login included), so a dead BMC
        holds one slot for its deadline and no other BMC waits for it.

        :raises: ValueError for a request no BMC could be sent.
        """
        _check_request(netfn, cmd, lun, timeout)
        peers = self._resolve_all(creds, timeout)
        batch = Batch([(c, peers[c.address, c.port]) for c in creds], (netfn, cmd, bytes(data), lun),
                      timeout, window, self._wants_refill)
        if not creds:
            batch.finish()
            return batch.future
        try:
            self._post(("batch", batch))
        except errors.IPMIError as e:
            batch.fail_rest(e)
            batch.finish()
        return batch.future

    def _submit(self, creds: BmcCredentials, netfn: int, cmd: int, data: bytes, timeout: float,
                lun: int, receiver: Future | Waiter) -> None:
        _check_request(netfn, cmd, lun, timeout)
        deadline = time.monotonic() + timeout
        call = Call(netfn, cmd, bytes(data), deadline, receiver, lun, creds.bridge)
        try:
            peer = self._resolver.resolve(creds.address, creds.port, timeout)
            self._post(("call", creds, peer, call))
        except errors.IPMIError as e:
            call.finish(e)

    def _start_here(self, creds: BmcCredentials, netfn: int, cmd: int, data: bytes, timeout: float,
                    lun: int, waiter: OneAnswer) -> tuple[int, float] | tuple[()] | None:
        """Start the request in this thread if the IO thread is idle; None: queue it instead.

        Only when nothing is queued (a queued close or request to this BMC must go
        first) and only with a numeric address (a name lookup may wait). The lock
        is tried, never waited for: a busy IO thread takes the job as before.

        Returns ``(socket index, until)`` when the request went out on an active
        session whose socket nobody else reads for now: the caller then reads the
        answer itself (``_lead``) until its first retransmission is due; ``()``
        when it was started but the IO thread brings the answer.
        """
        if self._thread is None or self._jobs:
            return None
        peer = numeric_peer(creds.address, creds.port)
        if peer is None:
            return None
        _check_request(netfn, cmd, lun, timeout)
        if not self._state.acquire(blocking=False):
            return None
        try:
            if self._stopping or self._closed or self._jobs:
                return None
            now = time.monotonic()
            call = Call(netfn, cmd, bytes(data), now + timeout, waiter, lun, creds.bridge)
            # Taken before sending: an answer faster than the disarming would wake the IO thread.
            index = self._take_socket(creds, peer)
            session = self._start(creds, peer, call, now)
            self.counters["direct_starts"] += 1
            lead: tuple[int, float] | tuple[()] = ()
            if index >= 0:
                if session is not None and session.inflight is call:
                    waiter.wake = self._lead_wakes[index]
                    lead = (index, min(call.deadline, session.retry_at))
                    self.counters["led_calls"] += 1
                else:  # it did not go out at once (an interval to wait): the IO thread sends it
                    self._give_back(index)
            self._nudge()
            return lead
        finally:
            self._state.release()

    def _lead(self, waiter: OneAnswer, index: int, until: float) -> None:
        """Read socket ``index`` in this thread until ``waiter`` has its answer, or ``until``.

        Why: handing each answer from the IO thread to a blocked caller cost two
        thread wake-ups per poll, more CPU than the poll itself. While a caller
        leads a socket the IO thread does not watch it (disarmed in its epoll), and
        the caller routes every datagram that arrives there, its own or another
        session's, under the state lock like the IO thread. Retransmissions,
        deadlines and other sockets stay with the IO thread; an answer it delivers
        (an expiry, a dropped session) wakes this caller through the socket's eventfd.
        Past ``until`` (the first retransmission) the IO thread takes the socket back
        and the caller waits for its answer as any other.
        """
        poller = self._lead_polls[index]
        try:
            while not waiter.done:
                wait = until - time.monotonic()
                if wait <= 0:
                    return
                if not poller.poll(wait * 1000.0):
                    continue
                with self._state:
                    if self._stopping:
                        return
                    waiter.wake = -1  # our own routing resolves it: nothing to wake
                    self._read(index, time.monotonic(), waiter)
                    if not waiter.done:
                        waiter.wake = self._lead_wakes[index]
                    self._nudge()
        finally:
            with self._state:
                waiter.wake = -1
                if waiter.woke or not waiter.done:  # its answer is not (or was not) ours to read
                    self.counters["led_handed_back"] += 1
                if self._stopping:
                    self._led[index] = False  # the IO thread closed the descriptors
                else:
                    if waiter.woke:
                        with contextlib.suppress(BlockingIOError):
                            os.eventfd_read(self._lead_wakes[index])
                    self._give_back(index)

    def _take_socket(self, creds: BmcCredentials, peer: Peer) -> int:
        """Stop the IO thread reading the socket of this BMC's session, for a caller to read
        it itself; the socket's index, or -1 when that does not apply (no idle active
        session yet, or another caller reads that socket). Under the state lock."""
        session = self._sessions.get(creds.session_key)
        if session is None or session.state != ACTIVE or session.busy or session.peer != peer:
            return -1
        index = session.sock
        if self._led[index]:
            return -1
        self._led[index] = True
        self._epoll.modify(self._socks[index].fileno(), 0)
        return index

    def _give_back(self, index: int) -> None:
        """The IO thread reads socket ``index`` again (under the state lock); datagrams
        already waiting there wake it at once."""
        self._led[index] = False
        if not self._stopping:
            self._epoll.modify(self._socks[index].fileno(), select.EPOLLIN)

    def _nudge(self) -> None:
        """Wake the IO thread (which sleeps until _wake_at) if a caller's work needs it
        sooner: a timer armed earlier (a retransmission), a batch with free slots, or
        sessions to log out as soon as they are idle (``release_sessions``)."""
        if self._refill or self._releasing or (self._timers and self._timers[0][0] < self._wake_at):
            os.eventfd_write(self._wake, 1)

    def _resolve_all(self, creds: Sequence[BmcCredentials],
                     timeout: float) -> dict[tuple[str, int], Peer | errors.IPMIError]:
        """Every BMC's peer, or why not; each name bounded by ``timeout`` (side by side)."""
        return self._resolver.resolve_many(dict.fromkeys((c.address, c.port) for c in creds), timeout)

    def close(self, creds: BmcCredentials) -> None:
        """Log out of this BMC's session now (if idle), freeing its BMC slot."""
        if self._thread is None:
            return  # never started: no session to close
        self._post(("close", creds.session_key))

    def release_sessions(self) -> None:
        """Log out of every session now, and from now on of each one as soon as it is idle.

        For a process about to end: unlike ``shutdown`` nothing fails, requests still
        run (logging in again if they must), but no session outlives its last answer,
        so none is left holding a BMC slot when the process exits. ``keep_sessions``
        undoes it.
        """
        with self._lock:
            if self._thread is None or self._closed:
                self._releasing = True  # no session yet; the IO thread reads it when it starts
                return
        self._post(("release", True))

    def keep_sessions(self) -> None:
        """Keep idle sessions logged in again (until idle_timeout), as normally."""
        with self._lock:
            if self._thread is None or self._closed:
                self._releasing = False
                return
        self._post(("release", False))

    def stats(self) -> dict[str, Any]:
        future: Future = Future()
        self._post(("stats", future))
        return future.result(10.0)

    def shutdown(self) -> None:
        """Log out of every session and stop the thread."""
        with self._lock:
            thread = self._thread
            if thread is None or self._closed:
                self._closed = True
                return
            self._jobs.append(("stop",))
            self._closed = True
            try:
                os.eventfd_write(self._wake, 1)
            except OSError as e:  # our eventfd closed by someone else's double close: the
                # thread still finds the stop job within one maintenance interval
                LOG.warning("IPMI engine: cannot wake the IO thread to stop it (%s)", e)
        thread.join(10.0)

    def _post(self, job: tuple) -> None:
        self._ensure_started()
        with self._lock:  # not after shutdown: the eventfd may be closed
            if self._closed:
                raise errors.IPMIError("the IPMI engine is shut down")
            # A job already queued means the IO thread is woken (or draining) and
            # takes this one in the same pass: it only stops draining on an empty queue.
            wake = not self._jobs
            self._jobs.append(job)
            if wake:
                os.eventfd_write(self._wake, 1)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            try:
                self._socks = self._open_sockets()
            except OSError as e:
                # The source address was checked when the driver loaded; it may have
                # gone since. Every request fails with the reason, none hangs.
                raise errors.IPMIError(
                    f"cannot open the IPMI engine's sockets (source address "
                    f"{self.config.source_address or 'any'}): {e.strerror or e}") from None
            self._epoll = select.epoll()
            self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._epoll.register(self._wake, select.EPOLLIN)
            for sock in self._socks:
                self._epoll.register(sock.fileno(), select.EPOLLIN)
                wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                poller = select.poll()
                poller.register(sock.fileno(), select.POLLIN)
                poller.register(wake, select.POLLIN)
                self._led.append(False)
                self._lead_wakes.append(wake)
                self._lead_polls.append(poller)
            self._thread = threading.Thread(target=self._run, name="ironic-scale-ipmi-io",
                                            daemon=True)
            self._thread.start()

    def _open_sockets(self) -> list[socket.socket]:
        """The engine's UDP sockets: ``sockets`` IPv4 ones, then as many IPv6 ones.

        Both are opened up front (a few descriptors), so the IO thread's set of
        sockets never changes. A host without IPv6 (or with an IPv6 source address
        it cannot bind) still gets its IPv4 sockets; only IPv6 BMCs then fail.
        """
        socks = self._open_family(socket.AF_INET)
        try:
            v6 = self._open_family(socket.AF_INET6)
        except OSError as e:
            v6 = []
            LOG.warning("IPMI engine: no IPv6 sockets (source address %s), BMCs with IPv6 "
                        "addresses cannot be reached: %s",
                        bind_address(self.config.source_address, socket.AF_INET6), e.strerror or e)
        self._v6_socks = list(range(len(socks), len(socks) + len(v6)))
        return socks + v6

    def _open_family(self, family: int) -> list[socket.socket]:
        address = bind_address(self.config.source_address, family)
        socks: list[socket.socket] = []
        try:
            for _ in range(self.config.sockets):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                socks.append(sock)
                if family == socket.AF_INET6:  # IPv4-mapped BMC addresses (::ffff:a.b.c.d) too
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
                sock.setblocking(False)
                sock.bind((address, 0))
        except OSError:
            for sock in socks:
                sock.close()
            raise
        return socks

    # -- engine thread ----------------------------------------------------------------

    def _run(self) -> None:
        with self._state:
            self._loop()

    def _loop(self) -> None:
        fd_to_sock = {s.fileno(): i for i, s in enumerate(self._socks)}
        while not self._stopping:
            now = time.monotonic()
            wait = MAINTENANCE_INTERVAL
            if self._refill or self._jobs:
                wait = 0.0
            else:
                first = self._first_timer()
                if first is not None:
                    wait = min(wait, max(0.0, first - now))
            self._wake_at = now + wait
            self._state.release()  # callers may start calls while we wait
            try:
                events = self._epoll.poll(wait)
            except InterruptedError:
                continue
            finally:
                self._state.acquire()
            now = time.monotonic()
            for fd, _ in events:
                if fd == self._wake:
                    try:
                        os.eventfd_read(self._wake)
                    except BlockingIOError:
                        pass
                else:
                    self._read(fd_to_sock[fd], now)
            self._guarded(self._drain_jobs, now)
            self._guarded(self._run_timers, now)
            if self._refill:
                self._guarded(self._fill_batches, now)
            if self._releasing:
                self._guarded(self._release_idle, now)
            if now >= self._next_maintenance:
                self._next_maintenance = now + MAINTENANCE_INTERVAL
                self._guarded(self._maintain, now)
        self._finish()

    def _guarded(self, fn, now: float) -> None:
        try:
            fn(now)
        except Exception:  # noqa: BLE001 - the engine thread must survive any bug
            self.counters["engine_errors"] += 1
            LOG.exception("IPMI engine error in %s", fn.__name__)

    def _read(self, index: int, now: float, until_answered: OneAnswer | None = None) -> None:
        """Route the datagrams waiting on socket ``index``: at most 256 (so timers and new
        jobs are not starved), and none after ``until_answered`` has its answer."""
        sock = self._socks[index]
        for _ in range(256):
            if until_answered is not None and until_answered.done:
                return
            try:
                data, peer = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on the socket
                self.counters["recv_errors"] += 1
                continue
            self.counters["packets_in"] += 1
            try:
                self._route(index, data, peer, now)
            except wire.Malformed:
                self.counters["malformed"] += 1
            except Exception:  # noqa: BLE001 - one bad packet must not cost the others
                self.counters["engine_errors"] += 1
                LOG.exception("IPMI engine failed on a packet from %s", peer[0])

    def _route(self, index: int, data: bytes, peer: tuple[str, int], now: float) -> None:
        pkt = wire.Packet.decode(data)
        if pkt.authtype == wire.AUTHTYPE_NONE:
            targets = [s for s in self._peer_logins(index, peer) if s.state == AUTHCAP][:1]
        elif pkt.payload_type == wire.PAYLOAD_IPMI:
            targets = [self._by_sid.get(pkt.session_id)]
        else:  # handshake replies carry our session id at 4..8, but refusals may not
            sid = int.from_bytes(pkt.payload[4:8], "little") if len(pkt.payload) >= 8 else 0
            session = self._by_sid.get(sid)
            targets = [session] if session else [
                s for s in self._peer_logins(index, peer) if s.state in HANDSHAKE]
        targets = [s for s in targets if s is not None and s.peer == peer]
        if not targets:
            self.counters["unrouted"] += 1
        for session in targets:  # each checks the message tag and drops stale replies
            state = session.state
            session.on_packet(pkt, now)
            if state != ACTIVE and session.state == ACTIVE:
                self.counters["logins"] += 1
            self._arm(session)

    def _peer_logins(self, index: int, peer: tuple[str, int]) -> list[ClientSession]:
        key = (index, peer)
        sessions = [s for s in self._logging_in.get(key, ()) if s.state in LOGGING_IN]
        if sessions:
            self._logging_in[key] = sessions
        else:
            self._logging_in.pop(key, None)
        return sessions

    def _send(self, session: ClientSession, packet: bytes) -> None:
        if session.state in LOGGING_IN:
            waiting = self._logging_in.setdefault((session.sock, session.peer), [])
            if session not in waiting:
                waiting.append(session)
        try:
            self._socks[session.sock].sendto(packet, session.peer)
            self.counters["packets_out"] += 1
        except OSError as e:
            self.counters["send_errors"] += 1
            if e.errno not in (errno.EAGAIN, errno.ENOBUFS, errno.ECONNREFUSED):
                LOG.debug("sending to %s failed: %s", session.creds.target, e)

    def _drain_jobs(self, now: float) -> None:
        while self._jobs:
            job = self._jobs.popleft()
            kind = job[0]
            if kind == "call":
                self._start(job[1], job[2], job[3], now)
            elif kind == "batch":
                self._batches.add(job[1])
                self._refill.append(job[1])
            elif kind == "close":
                session = self._sessions.get(job[1])
                if session is not None and not session.busy:
                    self._drop(session, "closed")
            elif kind == "release":
                self._releasing = job[1]
            elif kind == "stats":
                job[1].set_result(self._snapshot())
            elif kind == "stop":
                self._stopping = True

    def _start(self, creds: BmcCredentials, peer: Peer, call: Call, now: float) -> ClientSession | None:
        """Hand ``call`` to its BMC's session; the session, or None if the call failed at once."""
        try:
            session = self._session(creds, peer, now)
            session.submit(call, now)
            self._arm(session)
            return session
        except errors.IPMIError as e:  # this BMC cannot be reached from here
            call.finish(e)
        except Exception as e:  # noqa: BLE001 - a bug must fail this call, not lose it
            LOG.exception("IPMI engine failed to start a request to %s", creds.target)
            self.counters["engine_errors"] += 1
            call.finish(errors.IPMIError(f"internal error of the IPMI engine: {e}"))
        return None

    def _wants_refill(self, batch: Batch) -> None:
        self._refill.append(batch)  # not a bound append: _fill_batches swaps the list

    def _fill_batches(self, now: float) -> None:
        """Start requests of batches with free window slots; hand finished batches back.

        After the packets and timers of a pass, never from inside a session: an
        answer only records itself (``Batch.answered``), so no session is re-entered.
        """
        batches, self._refill = self._refill, []
        for batch in batches:
            batch.queued = False
            netfn, cmd, data, lun = batch.request
            while batch.in_flight < batch.window and batch.next < len(batch.targets):
                i = batch.next
                batch.next += 1
                creds, peer = batch.targets[i]
                call = Call(netfn, cmd, data, now + batch.timeout, batch.slot(i), lun, creds.bridge)
                if isinstance(peer, BaseException):
                    call.finish(peer)
                else:
                    self._start(creds, peer, call, now)
            if batch.done:
                self._batches.discard(batch)
                batch.finish()

    def _session(self, creds: BmcCredentials, peer: Peer, now: float) -> ClientSession:
        key = creds.session_key
        session = self._sessions.get(key)
        if session is None or session.peer != peer:
            if session is not None:  # the name now resolves elsewhere
                self._drop(session, "moved")
            sid = random.getrandbits(32)
            while sid == 0 or sid in self._by_sid:
                sid = random.getrandbits(32)
            send, others = self._hooks
            session = ClientSession(creds, sid, self._socket_for(peer, creds), send,
                                    self.config.retry_interval, now,
                                    self.config.min_command_interval, self.counters, others)
            session.peer = peer
            self._sessions[key] = session
            self._by_sid[sid] = session
            self.counters["sessions_created"] += 1
        return session

    def _socket_for(self, peer: Peer, creds: BmcCredentials) -> int:
        """Index of the socket a new session to ``peer`` uses: one of its family, in turn."""
        if not is_ipv6(peer):
            return len(self._sessions) % (len(self._socks) - len(self._v6_socks))
        if not self._v6_socks:
            raise errors.IPMIError(f"cannot reach the BMC at {creds.target}: this host has no "
                                   "IPv6 socket for the IPMI engine (see the conductor log)")
        return self._v6_socks[len(self._sessions) % len(self._v6_socks)]

    def _other_sessions(self, session: ClientSession) -> int:
        """Sessions besides ``session`` this engine holds or is opening to its BMC."""
        return sum(1 for s in self._sessions.values()
                   if s is not session and s.peer == session.peer and s.state != IDLE)

    def _arm(self, session: ClientSession) -> None:
        when = session.next_timer()
        if when is None:
            # Nothing left to time (answered, idle): its entry goes stale, so the IO
            # thread does not wake a retry interval after every answer for nothing.
            self._armed.pop(id(session), None)
            return
        armed = self._armed.get(id(session))
        if armed is None or when < armed:
            self._armed[id(session)] = when
            heapq.heappush(self._timers, (when, next(self._tick), session))

    def _first_timer(self) -> float | None:
        """When the earliest live timer is due; stale entries on top are dropped on the way."""
        timers, armed = self._timers, self._armed
        while timers:
            when, _, session = timers[0]
            if armed.get(id(session)) == when:
                return when
            heapq.heappop(timers)
        return None

    def _run_timers(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            when, _, session = heapq.heappop(self._timers)
            if self._armed.get(id(session)) != when:
                continue  # superseded by an earlier entry
            del self._armed[id(session)]
            logins = session.logins
            session.on_timer(now)
            if session.logins > logins and logins:
                self.counters["relogins"] += 1
            self._arm(session)

    def _maintain(self, now: float) -> None:
        cfg = self.config
        for session in list(self._sessions.values()):
            if session.busy:
                continue
            if now - session.last_used > cfg.idle_timeout:
                self._drop(session, "evicted_idle")
            elif (cfg.keepalive_interval and session.state == ACTIVE
                  and now - session.last_traffic > cfg.keepalive_interval):
                self.counters["keepalives"] += 1
                session.submit(Call(0x06, 0x01, b"", now + 3 * cfg.retry_interval, None), now)
                self._arm(session)
        # Forget peers whose logins ended without a reply (dead BMCs, evictions).
        for key in list(self._logging_in):
            self._peer_logins(*key)
        excess = len(self._sessions) - cfg.max_sessions
        if excess > 0:
            idle = sorted((s for s in self._sessions.values() if not s.busy), key=lambda s: s.last_used)
            for session in idle[:excess]:
                self._drop(session, "evicted_lru")

    def _release_idle(self, now: float) -> None:
        """While releasing: log out of every session with nothing queued or in flight (called
        after each batch of packets and timers, so a session goes right after its answer)."""
        for session in [s for s in self._sessions.values() if not s.busy]:
            self._drop(session, "released")

    def _drop(self, session: ClientSession, reason: str) -> None:
        # Nobody waits for these answers, so copies stand in for retransmissions:
        # at 30 % loss one Close in ~40 is lost three times, against one in three.
        packets = [session.logout_packet(), session.orphan and session.orphan.close_packet(0.0, 0.0)]
        for packet in filter(None, packets):
            for _ in range(LOGOUT_COPIES):
                self._send(session, packet)
        session.fail_all(errors.IPMIError(f"session to {session.creds.target} was {reason}"))
        session.state = IDLE
        self._peer_logins(session.sock, session.peer)  # forgets it among its peer's logins
        self._sessions.pop(session.creds.session_key, None)
        self._by_sid.pop(session.console_sid, None)
        self._armed.pop(id(session), None)
        self.counters[reason] += 1

    def _snapshot(self) -> dict[str, Any]:
        states = Counter(STATE_NAMES[s.state] for s in self._sessions.values())
        return {"sessions": len(self._sessions), "states": dict(states),
                "logging_in_peers": len(self._logging_in), **self.counters}

    def _finish(self) -> None:
        for session in list(self._sessions.values()):
            self._drop(session, "closed")
        stopped = errors.IPMIError("the IPMI engine is shut down")
        for batch in self._batches:
            batch.fail_rest(stopped)
            batch.finish()
        for sock in self._socks:
            sock.close()
        for wake in self._lead_wakes:
            os.close(wake)
        os.close(self._wake)
        self._epoll.close()


def _check_request(netfn: int, cmd: int, lun: int, timeout: float) -> None:
    """Refuse in the caller's thread what no BMC could be sent, so nothing fails in the IO thread.

    :raises: ValueError
    """
    if not (0 <= netfn <= 0x3F and 0 <= cmd <= 0xFF and 0 <= lun <= 3 and timeout > 0):
        raise ValueError(f"invalid IPMI request: netfn {netfn!r}, command {cmd!r}, "
                         f"LUN {lun!r}, timeout {timeout!r}")


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine(config: EngineConfig | Callable[[], EngineConfig] | None = None) -> Engine:
    """The process-wide engine, created on first use.

    ``config`` may be a function: it is only called to create the engine, so a
    hot path (every power poll) pays no configuration parsing.
    """
    global _ENGINE
    engine = _ENGINE
    if engine is not None:
        return engine
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = Engine(config() if callable(config) else config)
        return _ENGINE


def _forget_engine_in_child() -> None:
    # A forked child (Ironic's cotyledon worker) inherits no running thread:
    # start afresh rather than post jobs to an engine nobody runs.
    global _ENGINE, _ENGINE_LOCK
    _ENGINE, _ENGINE_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_engine_in_child)
