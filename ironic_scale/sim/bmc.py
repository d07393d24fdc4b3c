"""One simulated BMC: RMCP+ session handshake, session table and host state.

Sockets live elsewhere (fleet.py): ``Bmc.handle`` turns one request datagram
into at most one reply datagram, so the whole protocol is testable in-process.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import sys
import time
from collections import Counter

from ironic_scale.rmcp import crypto, wire
from ironic_scale.sim import commands
from ironic_scale.sim.behaviour import Behaviour

# Session states.
OPENED, RAKP, ACTIVE = 1, 2, 3
# How long a half-open handshake may hold a session slot.
HANDSHAKE_TIMEOUT = 5.0
# Chassis Control requests kept per BMC in ``power_log`` (the newest).
POWER_LOG_LIMIT = 256
# Client source addresses counted apart per BMC in ``requesters``; any further ones
# share the OTHER_SOURCES entry, so a BMC's memory stays bounded whoever asks.
REQUESTERS_LIMIT = 64
OTHER_SOURCES = "other"
# Fields of a ``requesters`` entry: [logins, Get Chassis Status count, monotonic time of the last].
LOGINS, STATUS_READS, LAST_STATUS = 0, 1, 2

# RMCP+ status codes (IPMI v2.0 table 13-15).
RMCP_NO_RESOURCES = 0x01
RMCP_INVALID_SESSION = 0x02
RMCP_INVALID_ROLE = 0x09
RMCP_INVALID_NAME_LENGTH = 0x0C
RMCP_UNAUTHORIZED_NAME = 0x0D
RMCP_INVALID_ICV = 0x0F
RMCP_NO_CIPHER_MATCH = 0x11


class Session:
    """One RMCP+ session, from Open Session Request until close or idle expiry."""

    __slots__ = ("bmc_sid", "console_sid", "handle", "suite", "state", "rm", "rc", "role",
                 "username", "keys", "priv", "max_priv", "out_seq", "last_seen", "peer",
                 "rakp2", "rakp4", "opened")

    def __init__(self, bmc_sid: int, console_sid: int, handle: int, suite: crypto.CipherSuite,
                 peer: tuple[str, int], now: float):
        self.bmc_sid = bmc_sid
        self.console_sid = console_sid
        self.handle = handle
        self.suite = suite
        self.state = OPENED
        self.rm = self.rc = b""
        self.role = 0
        self.username = b""
        self.keys: crypto.SessionKeys | None = None
        self.priv = self.max_priv = 0
        self.out_seq = 0
        self.last_seen = now
        self.opened = now  # monotonic time of the Open Session Request
        self.peer = peer
        self.rakp2 = self.rakp4 = b""  # sent again, unchanged, to a retransmitted RAKP 1 / 3


class Bmc:
    """State of one BMC and the host behind it."""

    __slots__ = ("name", "username", "password", "kg", "guid", "behaviour", "counters", "rng",
                 "sessions", "next_handle", "power_on", "pending_power", "down_until",
                 "boot_flags", "boot_flags_set_at", "boot_flag_clearing", "boot_set_in_progress",
                 "boot_info_ack", "last_boot_device", "power_actions", "power_log", "sdr_reservation",
                 "deferred", "status_reads", "out_of_band_at", "slots_peak", "active_peak",
                 "requesters", "sources_peak")

    def __init__(self, name: str, username: str, password: str, behaviour: Behaviour,
                 counters: Counter, rng: random.Random, power_on: bool = False,
                 kg: bytes | None = None):
        self.name = name
        self.username = username.encode()
        self.password = password.encode()
        self.kg = kg
        self.guid = hashlib.md5(name.encode()).digest()
        self.behaviour = behaviour
        self.counters = counters
        self.rng = rng
        self.sessions: dict[int, Session] = {}
        self.next_handle = 1
        self.power_on = power_on
        self.pending_power: tuple[float, bool] | None = None
        self.down_until = 0.0
        self.boot_flags = bytearray(5)
        self.boot_flags_set_at = 0.0
        self.boot_flag_clearing = 0
        self.boot_set_in_progress = 0
        self.boot_info_ack = bytes(2)
        self.last_boot_device: int | None = None
        self.power_actions: Counter = Counter()
        # The same Chassis Control requests in order, with wall-clock times: a test that
        # compares two runs needs the sequence (on-then-off is not off-then-on), and the
        # times place each action in a sync cycle. Bounded like status_reads.
        self.power_log: list[tuple[float, str]] = []
        self.sdr_reservation = 0
        self.deferred: list[bytes] = []  # messages that follow a reply (bridged answers)
        # Wall-clock times of the latest Get Chassis Status reads, so a density test can
        # tell which hosts a sync cycle really polled (Ironic's own log line miscounts).
        self.status_reads: list[float] = []
        # Wall-clock time of the latest out-of-band change, so a density test can time how
        # long a conductor takes to correct a change made behind its back (with power_log).
        self.out_of_band_at: float | None = None
        # High-water marks of len(sessions) (half-open handshakes hold a slot too) and of
        # ACTIVE sessions; kept by the fleet after each datagram, reset by its "slots" op.
        self.slots_peak = self.active_peak = 0
        # Who asked, by client source address: [logins, Get Chassis Status reads, monotonic
        # time of the last read], so a test of several conductors can tell which one polls
        # this BMC, how often, and when it took over. Cleared by the "requesters" op's reset.
        self.requesters: dict[str, list] = {}
        # High-water mark of distinct source addresses holding ACTIVE sessions at once
        # (raised at each login, the only moment it can rise).
        self.sources_peak = 0

    def requester(self, source: str) -> list:
        """The ``requesters`` entry of ``source`` (created; OTHER_SOURCES past the limit)."""
        entry = self.requesters.get(source)
        if entry is None:
            if len(self.requesters) >= REQUESTERS_LIMIT:
                source = OTHER_SOURCES
                entry = self.requesters.get(source)
            if entry is None:  # one key string for all BMCs (recvfrom makes a new one each time)
                entry = self.requesters[sys.intern(source)] = [0, 0, None]
        return entry

    def note_status_read(self, source: str, now: float) -> None:
        """One Get Chassis Status from ``source`` (the client's IP address) at monotonic ``now``."""
        reads = self.status_reads
        reads.append(time.time())
        if len(reads) > 64:
            del reads[:32]
        entry = self.requesters.get(source) or self.requester(source)
        entry[STATUS_READS] += 1
        entry[LAST_STATUS] = now

    def note_login(self, source: str) -> None:
        """A session from ``source`` became active: count it, raise the sources mark."""
        self.requester(source)[LOGINS] += 1
        holders = self.sources_holding()
        if holders > self.sources_peak:
            self.sources_peak = holders

    def sources_holding(self) -> int:
        """Distinct source addresses with an ACTIVE session now."""
        return len({s.peer[0] for s in self.sessions.values() if s.state == ACTIVE})

    def note_power_action(self, action: str) -> None:
        """Count one accepted Chassis Control request and log it in order."""
        self.power_actions[action] += 1
        self.counters["power." + action] += 1
        log = self.power_log
        log.append((time.time(), action))
        if len(log) > POWER_LOG_LIMIT:
            del log[: len(log) - POWER_LOG_LIMIT]

    def status_reads_between(self, since: float, until: float) -> int:
        return sum(since <= t <= until for t in self.status_reads)

    def power_out_of_band(self, on: bool) -> None:
        """Someone at the machine pressed the button: no settle time, nothing pending."""
        self.pending_power = None
        self.power_on = on
        self.out_of_band_at = time.time()

    # -- host state ----------------------------------------------------------

    def is_powered(self, now: float) -> bool:
        """Current power, applying a settled pending action first."""
        if self.pending_power is not None and now >= self.pending_power[0]:
            self._set_power(self.pending_power[1], now)
            self.pending_power = None
        return self.power_on

    def _set_power(self, on: bool, now: float) -> None:
        if on and not self.power_on:
            self.host_boots(now)
        self.power_on = on

    def power_action(self, on: bool, now: float, reboot: bool = False) -> None:
        """Apply a power change now, or after the settle time.

        ``reboot`` (cycle, reset) takes the host down and up again, so it boots
        and reads the boot flags; with a settle time it shows off until then.
        """
        settle = self.behaviour.settle
        if reboot and settle:
            self.power_on, self.pending_power = False, (now + settle, True)
        elif reboot:
            self.pending_power, self.power_on = None, True
            self.host_boots(now)
        elif settle:
            self.pending_power = (now + settle, on)
        else:
            self.pending_power = None
            self._set_power(on, now)

    def host_boots(self, now: float) -> None:
        """The host firmware reads the boot flags; one-time flags are used up."""
        flags = self.active_boot_flags(now)
        self.last_boot_device = (flags[1] >> 2) & 0x0F if flags[0] & 0x80 else 0
        if flags[0] & 0x80 and not flags[0] & 0x40:
            self.boot_flags[0] &= 0x7F

    def active_boot_flags(self, now: float) -> bytearray:
        """Boot flags with the 60 s valid-bit timeout applied (param 3, bit 3 disables it)."""
        if (self.boot_flags[0] & 0x80 and not self.boot_flags[0] & 0x40
                and not self.boot_flag_clearing & 0x08
                and now - self.boot_flags_set_at > self.behaviour.boot_flag_timeout):
            self.boot_flags[0] &= 0x7F
        return self.boot_flags

    def reboot_bmc(self, now: float, downtime: float = 0.0) -> int:
        """BMC (not host) reboot: every session is gone; silent while down."""
        dropped = len(self.sessions)
        self.sessions.clear()
        self.down_until = now + downtime
        self.counters["bmc.reboots"] += 1
        return dropped

    def expire_sessions(self, now: float) -> None:
        timeout = self.behaviour.session_timeout
        for sid, s in list(self.sessions.items()):
            limit = timeout if s.state == ACTIVE else min(timeout, HANDSHAKE_TIMEOUT)
            if now - s.last_seen > limit:
                del self.sessions[sid]
                self.counters["session.expired"] += 1

    # -- datagrams -----------------------------------------------------------

    def handle(self, datagram: bytes, peer: tuple[str, int], now: float) -> bytes | list[bytes] | None:
        """Answer one datagram; ``None`` when a real BMC would stay silent.

        A list means several datagrams (a bridged request's answer follows).
        """
        try:
            if len(datagram) >= 4 and datagram[3] == wire.RMCP_CLASS_ASF:
                return wire.asf_pong(datagram)
            pkt = wire.Packet.decode(datagram)
            if pkt.payload_type == wire.PAYLOAD_IPMI:
                if pkt.session_id == 0 and not pkt.authenticated:
                    return self._sessionless(pkt, now)
                return self._in_session(pkt, now)
            if pkt.payload_type == wire.PAYLOAD_OPEN_SESSION_REQUEST:
                return self._open_session(pkt.payload, peer, now)
            if pkt.payload_type == wire.PAYLOAD_RAKP1:
                return self._rakp1(pkt.payload, now)
            if pkt.payload_type == wire.PAYLOAD_RAKP3:
                return self._rakp3(pkt.payload, now)
            raise wire.Malformed(f"unexpected payload type {pkt.payload_type:#x}")
        except wire.Malformed:
            self.counters["drop.malformed"] += 1
            return None

    def _sessionless(self, pkt: wire.Packet, now: float) -> bytes | None:
        req = wire.Request.decode(pkt.payload)
        if (req.netfn, req.cmd) not in commands.SESSIONLESS:
            self.counters["drop.needs_session"] += 1
            return None
        msg = commands.dispatch(self, None, req, now)
        if pkt.authtype == wire.AUTHTYPE_NONE:
            return wire.encode_v15_sessionless(msg)
        return wire.encode_v20_clear(wire.PAYLOAD_IPMI, msg)

    def _in_session(self, pkt: wire.Packet, now: float) -> bytes | None:
        s = self.sessions.get(pkt.session_id)
        if s is None or s.state != ACTIVE:
            self.counters["drop.unknown_session"] += 1
            return None
        if not pkt.authenticated or not s.keys.verify(pkt.raw):
            self.counters["drop.bad_integrity"] += 1
            return None
        payload = s.keys.decrypt(pkt.payload) if pkt.encrypted else pkt.payload
        req = wire.Request.decode(payload)
        s.last_seen = now
        msg = commands.dispatch(self, s, req, now)
        if msg is None:
            return None
        replies = []
        for m in [msg, *self.deferred]:
            s.out_seq = (s.out_seq % 0xFFFFFFFF) + 1
            replies.append(s.keys.seal(wire.PAYLOAD_IPMI, s.console_sid, s.out_seq, m))
        self.deferred.clear()
        return replies[0] if len(replies) == 1 else replies

    # -- RMCP+ handshake (IPMI v2.0 section 13.17-13.23) ----------------------

    def _new_session_id(self) -> int:
        while True:
            sid = self.rng.getrandbits(32)
            if sid and sid not in self.sessions:
                return sid

    def _open_session(self, data: bytes, peer: tuple[str, int], now: float) -> bytes:
        if len(data) < 8:
            raise wire.Malformed("short Open Session Request")
        tag, max_priv = data[0], data[1] & 0x0F
        console_sid = struct.unpack_from("<I", data, 4)[0]
        algs: dict[int, int | None] = {0: None, 1: None, 2: None}
        off = 8
        while off + 4 <= len(data):
            ptype, length = data[off], data[off + 3]
            if ptype in algs and length >= 5 and off + 5 <= len(data):
                algs[ptype] = data[off + 4] & 0x3F
            off += 8
        self.expire_sessions(now)

        def refuse(status: int) -> bytes:
            body = bytes((tag, status, 0, 0)) + struct.pack("<I", console_sid)
            return wire.encode_v20_clear(wire.PAYLOAD_OPEN_SESSION_RESPONSE, body)

        suite = crypto.match_suite(algs[0], algs[1], algs[2])
        if suite is None:
            self.counters["login.no_cipher_match"] += 1
            return refuse(RMCP_NO_CIPHER_MATCH)
        if len(self.sessions) >= self.behaviour.session_slots:
            self.counters["login.no_slot"] += 1
            return refuse(RMCP_NO_RESOURCES)
        sid = self._new_session_id()
        s = Session(sid, console_sid, self.next_handle, suite, peer, now)
        self.next_handle = self.next_handle % 255 + 1
        s.max_priv = max_priv or 4
        self.sessions[sid] = s
        body = (bytes((tag, 0, s.max_priv, 0)) + struct.pack("<II", console_sid, sid)
                + bytes((0, 0, 0, 8, suite.auth_alg, 0, 0, 0))
                + bytes((1, 0, 0, 8, suite.integrity_alg, 0, 0, 0))
                + bytes((2, 0, 0, 8, suite.conf_alg, 0, 0, 0)))
        return wire.encode_v20_clear(wire.PAYLOAD_OPEN_SESSION_RESPONSE, body)

    def _rakp1(self, data: bytes, now: float) -> bytes:
        if len(data) < 28:
            raise wire.Malformed("short RAKP message 1")
        tag = data[0]
        sid = struct.unpack_from("<I", data, 4)[0]
        rm, role, ulen = data[8:24], data[24], data[27]
        uname = data[28 : 28 + ulen]

        def refuse(status: int, console_sid: int = 0) -> bytes:
            body = bytes((tag, status, 0, 0)) + struct.pack("<I", console_sid)
            return wire.encode_v20_clear(wire.PAYLOAD_RAKP2, body)

        s = self.sessions.get(sid)
        if s is None or s.state == ACTIVE:
            self.counters["login.invalid_session"] += 1
            return refuse(RMCP_INVALID_SESSION)
        if s.state == RAKP and bytes(rm) == s.rm and role == s.role and bytes(uname) == s.username:
            # The client retransmitted RAKP 1 (our RAKP 2 was slow or lost): the same
            # answer again, so whichever copy it takes matches the Rc we keep.
            return s.rakp2
        if ulen > 16 or len(uname) != ulen:
            del self.sessions[sid]
            return refuse(RMCP_INVALID_NAME_LENGTH, s.console_sid)
        if uname != self.username:
            del self.sessions[sid]
            self.counters["login.unknown_user"] += 1
            return refuse(RMCP_UNAUTHORIZED_NAME, s.console_sid)
        if not 1 <= role & 0x0F <= 4:
            del self.sessions[sid]
            return refuse(RMCP_INVALID_ROLE, s.console_sid)
        s.rm, s.role, s.username, s.rc = bytes(rm), role, bytes(uname), os.urandom(16)
        s.max_priv = min(s.max_priv, role & 0x0F) if s.max_priv else role & 0x0F
        s.state, s.last_seen = RAKP, now
        code = crypto.rakp2_code(s.suite, self.password, s.console_sid, sid, s.rm, s.rc, self.guid,
                                 role, s.username)
        body = bytes((tag, 0, 0, 0)) + struct.pack("<I", s.console_sid) + s.rc + self.guid + code
        s.rakp2 = wire.encode_v20_clear(wire.PAYLOAD_RAKP2, body)
        return s.rakp2

    def _rakp3(self, data: bytes, now: float) -> bytes | None:
        if len(data) < 8:
            raise wire.Malformed("short RAKP message 3")
        tag, status = data[0], data[1]
        sid = struct.unpack_from("<I", data, 4)[0]
        s = self.sessions.get(sid)

        def refuse(code: int, console_sid: int = 0) -> bytes:
            body = bytes((tag, code, 0, 0)) + struct.pack("<I", console_sid)
            return wire.encode_v20_clear(wire.PAYLOAD_RAKP4, body)

        if s is None or s.state == OPENED:
            self.counters["login.invalid_session"] += 1
            return refuse(RMCP_INVALID_SESSION)
        if status:  # the client gave up (e.g. it found our RAKP2 code wrong)
            del self.sessions[sid]
            self.counters["login.aborted_by_client"] += 1
            return None
        expected = crypto.rakp3_code(s.suite, self.password, s.rc, s.console_sid, s.role, s.username)
        if data[8:] != expected:
            if s.state != ACTIVE:
                del self.sessions[sid]
            self.counters["login.bad_password"] += 1
            return refuse(RMCP_INVALID_ICV, s.console_sid)
        if s.state == ACTIVE:  # our RAKP4 was lost and the client retried
            return s.rakp4
        sik = crypto.session_integrity_key(s.suite, self.kg or self.password, s.rm, s.rc, s.role,
                                           s.username)
        s.keys = crypto.SessionKeys(s.suite, sik)
        icv = crypto.rakp4_icv(s.suite, sik, s.rm, sid, self.guid)
        s.state, s.last_seen = ACTIVE, now
        s.priv = min(2, s.max_priv)  # sessions start at User level (section 13.14)
        s.rakp4 = wire.encode_v20_clear(
            wire.PAYLOAD_RAKP4, bytes((tag, 0, 0, 0)) + struct.pack("<I", s.console_sid) + icv)
        self.counters["login.ok"] += 1
        self.note_login(s.peer[0])
        return s.rakp4
