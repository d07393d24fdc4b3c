"""One RMCP+ client session as a state machine, touched only under the engine's state lock.

Why not pyghmi's Session: its event loop is shared by every calling thread
(whoever calls ``wait_for_rsp`` runs other sessions' retries and keepalives),
so under threads it deadlocks and loses wake-ups, it scans every session on
each loop iteration, and its IO thread uses select() (fds >= 1024 kill it);
../shared/DESIGN.md and the issue 3 notes give the evidence. Here a session
is plain state with no locks of its own: only the holder of the engine's one
state lock reads or changes it (the IO thread, or a caller starting a call
while the IO thread waits in epoll).
The packet arithmetic is ironic_scale.rmcp, shared with the simulator and
checked against ipmitool, ipmipower, pyghmi and OpenIPMI's ipmi_sim.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future

from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.replay import SequenceWindow
from ironic_scale.ipmi.waiters import Waiter
from ironic_scale.rmcp import crypto, wire

# States. BACKOFF waits before the handshake starts over; CLOSING logs out of
# a session the BMC stopped answering before logging in again.
IDLE, AUTHCAP, OPENING, RAKP1_SENT, RAKP3_SENT, SETPRIV, ACTIVE, CLOSED, BACKOFF, CLOSING = range(10)
STATE_NAMES = ("idle", "authcap", "opening", "rakp1", "rakp3", "setpriv", "active", "closed",
               "backoff", "closing")

NETFN_APP = 0x06
CMD_GET_DEVICE_ID, CMD_AUTH_CAPS, CMD_SET_PRIV, CMD_CLOSE = 0x01, 0x38, 0x3B, 0x3C
CMD_SEND_MESSAGE = 0x34
RMCP_NO_RESOURCES = 0x01
RMCP_INVALID_SESSION = 0x02  # the BMC forgot our half-open session (it rebooted)
# Refusals that mean "not this cipher suite": try the next one. OpenIPMI's
# ipmi_sim answers 0x04 (invalid authentication algorithm) to suite 17.
RMCP_SUITE_REFUSED = {0x04, 0x05, 0x10, 0x11, 0x12}
CC_NODE_BUSY = 0xC0
# Silent attempts on an established session before we assume the BMC forgot
# it (reboot, idle timeout) and log in again. Three, not two: at 10 % packet
# loss two silent attempts in a row happen to ~4 % of commands, three to ~0.7 %.
ATTEMPTS_BEFORE_RELOGIN = 3
# Close Session attempts for such a session before logging in anyway: if the
# BMC still holds it (the packets were lost, not the session), this frees its
# slot, so we never hold two. Two, not three: at 30 % loss a third attempt
# pushed re-logins past the command timeout (bench: a missed poll, 99.8 %)
# without fewer BMCs holding two slots; a rebooted BMC costs two intervals.
CLOSE_ATTEMPTS = 2
# A session still unanswered after those is left behind as an orphan and the
# login goes ahead; its Close is sent again every other retry interval, this
# many times, so a BMC that was only out of reach gets its slot back soon.
ORPHAN_CLOSE_ATTEMPTS = 15
# Set Session Privilege attempts before logging out and in again (the BMC
# dropped the new session, e.g. it rebooted mid-login).
SETPRIV_ATTEMPTS = 3
# Handshakes the BMC may send back to the start ("invalid session ID" to RAKP
# 1 or 3, e.g. after a forged Open Session answer) before the login fails; each restart
# waits twice as long as the one before, starting at the retry interval.
HANDSHAKE_RESTARTS = 3


class Call:
    """One request of a caller (or an internal keepalive, with no future)."""

    __slots__ = ("netfn", "cmd", "data", "deadline", "future", "seq", "attempts", "sent_at", "lun",
                 "bridge")

    def __init__(self, netfn: int, cmd: int, data: bytes, deadline: float, future: Future | Waiter | None,
                 lun: int = 0, bridge: tuple[int, int] | None = None):
        self.netfn, self.cmd, self.data, self.lun = netfn, cmd, data, lun
        self.bridge = bridge  # (channel, IPMB address) of a controller behind the BMC
        # Who gets the answer: a Future, or a lighter Waiter (one caller blocked in
        # Engine.call, or one slot of a batch); None for a keepalive.
        self.deadline, self.future = deadline, future
        self.seq = 0
        self.attempts = 0
        self.sent_at = 0.0

    def finish(self, result: bytes | BaseException) -> None:
        future = self.future
        if future is None:
            return
        if type(future) is not Future:  # a Waiter: resolves once, ignores later results
            future.resolve(result)
        elif not future.done():
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _close_request(bmc_sid: int, seq: int) -> bytes:
    """Close Session (IPMI v2.0 section 22.19) for the BMC's session ``bmc_sid``."""
    return wire.encode_request(NETFN_APP, CMD_CLOSE, struct.pack("<I", bmc_sid), seq)


class Orphan:
    """A session given up for a new login that the BMC may still hold: closed when it can be."""

    __slots__ = ("keys", "bmc_sid", "window", "out_seq", "rq_seq", "tries", "retry_at")

    def __init__(self, keys: crypto.SessionKeys, bmc_sid: int, window: SequenceWindow, out_seq: int,
                 rq_seq: int):
        self.keys, self.bmc_sid, self.window = keys, bmc_sid, window
        self.out_seq, self.rq_seq = out_seq, rq_seq
        self.tries = 0
        self.retry_at = 0.0

    def close_packet(self, now: float, interval: float) -> bytes:
        self.tries += 1
        self.retry_at = now + interval
        self.out_seq = (self.out_seq % 0xFFFFFFFF) + 1
        return self.keys.seal(wire.PAYLOAD_IPMI, self.bmc_sid, self.out_seq,
                              _close_request(self.bmc_sid, self.rq_seq))

    def answered(self, pkt: wire.Packet) -> bool:
        """True for the BMC's fresh, authenticated answer to our Close."""
        if not (pkt.authenticated and self.keys.verify(pkt.raw) and self.window.accept(pkt.sequence)):
            return False
        payload = self.keys.decrypt(pkt.payload) if pkt.encrypted else pkt.payload
        rsp = wire.Response.decode(payload)
        return rsp.cmd == CMD_CLOSE and rsp.seq == self.rq_seq


class ClientSession:
    """Login, then one request in flight at a time, retransmitted until its deadline.

    Slotted, with a plain list for a queue that is empty nearly always and the
    handshake's secrets and packets dropped once the session is up: an engine
    holds 25,000 of these (issue 13: ~4 KB each before, ~1.5 KB now).
    """

    __slots__ = ("creds", "console_sid", "sock", "peer", "_send", "counters", "_others",
                 "retry_interval", "min_interval", "next_send_at", "state", "suites", "suite", "tag",
                 "bmc_sid", "rm", "rc", "guid", "role", "keys", "window", "_sik", "setpriv_tries",
                 "restarts", "close_tries", "close_seq", "orphan", "out_seq", "rq_seq", "queue",
                 "inflight", "packet", "retry_at", "last_used", "last_traffic", "logins", "problem")

    def __init__(self, creds: BmcCredentials, console_sid: int, sock: int,
                 send: Callable[["ClientSession", bytes], None], retry_interval: float, now: float,
                 min_interval: float = 0.0, counters: Counter | None = None,
                 others: Callable[["ClientSession"], int] | None = None):
        self.creds = creds
        self.console_sid = console_sid
        self.sock = sock  # index of the engine socket this session uses
        self.peer = (creds.address, creds.port)
        self._send = send
        self.counters: Counter = counters if counters is not None else Counter()
        # How many other sessions this process holds to the same BMC (for error messages).
        self._others = others or (lambda session: 0)
        self.retry_interval = retry_interval
        self.min_interval = min_interval  # seconds between the starts of two commands
        self.next_send_at = 0.0
        self.state = IDLE
        self.suites = [creds.cipher_suite] if creds.cipher_suite else [17, 3]
        self.suite: crypto.CipherSuite | None = None
        self.tag = 0
        self.bmc_sid = 0
        self.rm = self.rc = self.guid = b""
        self.role = 0x10 | creds.priv_level  # name-only lookup
        self.keys: crypto.SessionKeys | None = None
        self.window = SequenceWindow()
        self._sik = b""
        self.setpriv_tries = 0
        self.restarts = 0  # handshake restarts in this login
        self.close_tries = 0
        self.close_seq = 0
        self.orphan: Orphan | None = None
        self.out_seq = 0
        self.rq_seq = 0
        self.queue: list[Call] = []  # a deque costs ~600 bytes even when empty
        self.inflight: Call | None = None
        self.packet = b""  # the handshake packet to retransmit
        self.retry_at = 0.0
        self.last_used = now  # last caller request (keepalives do not count)
        self.last_traffic = now  # last authenticated packet from the BMC
        self.logins = 0
        self.problem = ""  # why the BMC's last answer was unusable, for the timeout message

    # -- entry points for the engine ---------------------------------------------

    def submit(self, call: Call, now: float) -> None:
        if call.future is not None:  # keepalives are not use
            self.last_used = now
        self.queue.append(call)
        self._pump(now)

    def next_timer(self) -> float | None:
        """When the engine must call ``on_timer`` next (retransmit or a deadline)."""
        inflight = self.inflight
        if not self.queue and self.orphan is None:  # the usual case, twice per call: no list
            if inflight is not None:
                return min(inflight.deadline, self.retry_at)
            return self.retry_at if self.state in RETRANSMITTING else None
        times = [c.deadline for c in self.queue]
        if self.inflight is not None:
            times.append(self.inflight.deadline)
        if self.state in RETRANSMITTING or self.inflight:
            times.append(self.retry_at)
        elif self.state == ACTIVE and self.queue:
            times.append(self.next_send_at)
        if self.orphan is not None:
            times.append(self.orphan.retry_at)
        return min(times) if times else None

    def on_timer(self, now: float) -> None:
        if self.orphan is not None and self.orphan.retry_at <= now:
            self._close_orphan(now)
        self._expire(now)
        if self.inflight is None and self.state == ACTIVE:
            self._pump(now)  # the minimum command interval may have passed
            return
        if self.retry_at > now:
            return
        if self.state in (AUTHCAP, OPENING, RAKP1_SENT, RAKP3_SENT):
            # The very same message again: a slow BMC's late answer to the
            # first copy is as good as an answer to this one (restarting from
            # Open Session threw it away, and a 1.2 s BMC could never log in).
            self.counters["handshake_retransmits"] += 1
            self._transmit(self.packet, now)
        elif self.state == SETPRIV:
            self.setpriv_tries += 1
            if self.setpriv_tries >= SETPRIV_ATTEMPTS:
                # The BMC activated this session at RAKP 4 and may still hold it
                # (lost answers, not a reboot): log out of it before starting over.
                self.problem = "the BMC did not answer Set Session Privilege Level"
                self.state, self.close_tries = CLOSING, 0
                self._send_close(now)
            else:
                self._send_set_priv(now)  # re-sealed: a new session sequence number
        elif self.state == BACKOFF:
            self._open(now)
        elif self.state == CLOSING:
            self.close_tries += 1
            if self.close_tries >= CLOSE_ATTEMPTS:
                # The BMC forgot it (reboot) or is out of reach: log in now, and
                # keep closing the old one in case the BMC still holds it.
                if self.keys is not None and self.orphan is None:
                    self.orphan = Orphan(self.keys, self.bmc_sid, self.window, self.out_seq,
                                         self.close_seq)
                    self.orphan.retry_at = now
                else:
                    self.counters["sessions_abandoned"] += 1
                self._after_close(now)
            else:
                self._send_close(now)
        elif self.state == ACTIVE and self.inflight is not None:
            call = self.inflight
            if call.attempts >= ATTEMPTS_BEFORE_RELOGIN:
                # The BMC no longer answers this session (reboot, idle timeout,
                # or lost packets): log out of it before logging in again.
                call.attempts = 0
                self.queue.insert(0, call)
                self.inflight = None
                self.state, self.close_tries = CLOSING, 0
                self._send_close(now)
            else:
                self._send_call(call, now)

    def on_packet(self, pkt: wire.Packet, now: float) -> None:
        """A datagram the engine routed here (by session id or by peer)."""
        if pkt.payload_type == wire.PAYLOAD_IPMI:
            if pkt.session_id == 0:
                self._got_auth_caps(pkt.payload, now)
            else:
                self._got_session_packet(pkt, now)
        elif pkt.payload_type == wire.PAYLOAD_OPEN_SESSION_RESPONSE:
            self._got_open_response(pkt.payload, now)
        elif pkt.payload_type == wire.PAYLOAD_RAKP2:
            self._got_rakp2(pkt.payload, now)
        elif pkt.payload_type == wire.PAYLOAD_RAKP4:
            self._got_rakp4(pkt.payload, now)

    def logout_packet(self) -> bytes | None:
        """Close Session for a session the BMC may hold (sent once, unanswered is fine)."""
        if self.keys is None or self.state not in (RAKP3_SENT, SETPRIV, ACTIVE, CLOSING):
            return None
        return self._sealed_close()

    def fail_all(self, exc: BaseException) -> None:
        for call in ([self.inflight] if self.inflight else []) + list(self.queue):
            call.finish(exc)
        self.inflight = None
        self.queue.clear()

    @property
    def busy(self) -> bool:
        return bool(self.queue) or self.inflight is not None

    # -- sending -------------------------------------------------------------------

    def _transmit(self, packet: bytes, now: float) -> None:
        self.packet = packet
        self.retry_at = now + self.retry_interval
        self._send(self, packet)

    def _seal(self, msg: bytes) -> bytes:
        self.out_seq = (self.out_seq % 0xFFFFFFFF) + 1
        return self.keys.seal(wire.PAYLOAD_IPMI, self.bmc_sid, self.out_seq, msg)

    def _pump(self, now: float) -> None:
        """Start a login, or send the next queued call if none is in flight."""
        self._expire(now)
        if not self.queue or self.inflight is not None:
            return
        if self.state == IDLE:
            self._start_login(now)
        elif self.state == ACTIVE and now >= self.next_send_at:
            self._send_call(self.queue.pop(0), now)

    def _send_call(self, call: Call, now: float) -> None:
        if call.attempts == 0:
            self.rq_seq = (self.rq_seq + 1) & 0x3F
            call.seq = self.rq_seq
            self.next_send_at = now + self.min_interval
        call.attempts += 1
        if call.attempts > 1:
            self.counters["retransmits"] += 1
        call.sent_at = now
        self.inflight = call
        self.retry_at = now + self.retry_interval
        if call.bridge is None:
            msg = wire.encode_request(call.netfn, call.cmd, call.data, call.seq, rs_lun=call.lun)
        else:
            # Single bridging: Send Message with tracking (IPMI v2.0 section 22.7)
            # carries an IPMB request from the BMC (0x20) to the target controller.
            channel, target = call.bridge
            inner = wire.encode_request(call.netfn, call.cmd, call.data, call.seq, rs_lun=call.lun,
                                        rs_addr=target, rq_addr=wire.BMC_ADDRESS)
            msg = wire.encode_request(NETFN_APP, CMD_SEND_MESSAGE, bytes((0x40 | channel,)) + inner,
                                      call.seq)
        self._send(self, self._seal(msg))

    def _sealed_close(self) -> bytes:
        self.rq_seq = (self.rq_seq + 1) & 0x3F
        self.close_seq = self.rq_seq
        return self._seal(_close_request(self.bmc_sid, self.rq_seq))

    def _send_close(self, now: float) -> None:
        self._transmit(self._sealed_close(), now)

    def _close_orphan(self, now: float) -> None:
        orphan = self.orphan
        if orphan.tries >= ORPHAN_CLOSE_ATTEMPTS:
            self.counters["sessions_abandoned"] += 1  # forgotten by the BMC, most likely
            self.orphan = None
            return
        self._send(self, orphan.close_packet(now, 2 * self.retry_interval))

    def _after_close(self, now: float) -> None:
        """The old session is closed (or forgotten by the BMC): log in if anyone waits."""
        self.keys = None
        if self.queue:
            self._start_login(now)
        else:
            self.state = IDLE

    def _expire(self, now: float) -> None:
        """Fail calls whose deadline passed; a login with nobody waiting stops."""
        if self.inflight is not None and self.inflight.deadline <= now:
            self.inflight.finish(self._timeout())
            self.inflight = None
        if self.queue and any(c.deadline <= now for c in self.queue):  # mostly empty: no generator
            timeout = self._timeout()
            for call in [c for c in self.queue if c.deadline <= now]:
                call.finish(timeout)
            self.queue = [c for c in self.queue if c.deadline > now]
        if self.state in ABANDONABLE and not self.queue and self.inflight is None:
            # Nobody waits for this login any more. A BMC past RAKP 3 may
            # already hold the session: log out of it (best effort).
            packet = self.logout_packet()
            if packet is not None:
                self._send(self, packet)
            self.state, self.keys = IDLE, None
        if self.inflight is None and self.queue and self.state == ACTIVE and now >= self.next_send_at:
            self._send_call(self.queue.pop(0), now)

    def _timeout(self) -> errors.BMCTimeout:
        why = f" ({self.problem})" if self.problem else ""
        return errors.BMCTimeout(f"no answer from the BMC at {self.creds.target}{why}")

    # -- login (IPMI v2.0 sections 13.14-13.20) -----------------------------------

    def _start_login(self, now: float) -> None:
        self.logins += 1
        self.keys = None
        self.restarts = 0
        self.problem = ""
        self.suites = [self.creds.cipher_suite] if self.creds.cipher_suite else [17, 3]
        self.state = AUTHCAP
        msg = wire.encode_request(NETFN_APP, CMD_AUTH_CAPS, bytes((0x8E, self.creds.priv_level)), 0)
        self._transmit(wire.encode_v15_sessionless(msg), now)

    def _login_failed(self, message: str) -> None:
        self.state, self.keys = IDLE, None
        self.fail_all(errors.LoginFailed(f"login to the BMC at {self.creds.target} failed: {message}"))

    def _restart(self, now: float, why: str) -> None:
        """Send the handshake back to Open Session, after a growing pause, a few times only."""
        self.keys = None
        if self.restarts >= HANDSHAKE_RESTARTS:
            self._login_failed(f"{why} ({self.restarts + 1} times in a row); the BMC may be "
                               "restarting, or something else answers in its name")
            return
        self.counters["handshake_restarts"] += 1
        self.restarts += 1
        self.problem = why
        self.state = BACKOFF
        self.retry_at = now + self.retry_interval * 2 ** (self.restarts - 1)

    def _malformed(self, what: str) -> None:
        """An unusable handshake reply: keep waiting (it may be forged), remember why."""
        self.counters["malformed_handshake_replies"] += 1
        self.problem = what

    def _got_auth_caps(self, payload: bytes, now: float) -> None:
        if self.state != AUTHCAP:
            return
        rsp = wire.Response.decode(payload)
        if rsp.cmd != CMD_AUTH_CAPS:
            return
        if rsp.code == CC_NODE_BUSY:  # asked again when the retransmit timer fires
            self.problem = ("the BMC answered Get Channel Authentication Capabilities with "
                            "'node busy' (0xC0)")
            return
        if rsp.code:
            refused = errors.CommandFailed(NETFN_APP, CMD_AUTH_CAPS, rsp.code)
            self._login_failed(f"Get Channel Authentication Capabilities refused: {refused}")
            return
        if len(rsp.data) < 4:
            self._malformed(f"short Get Channel Authentication Capabilities answer "
                            f"({len(rsp.data)} bytes)")
            return
        if not (rsp.data[1] & 0x80 and rsp.data[3] & 0x02):
            self._login_failed("the BMC does not offer IPMI 2.0 (RMCP+) logins; "
                               "use Ironic's ipmitool interfaces for IPMI 1.5 BMCs")
            return
        self._open(now)

    def _open(self, now: float) -> None:
        self.suite = crypto.SUITES[self.suites[0]]
        self.tag = (self.tag + 1) & 0xFF
        s = self.suite
        payload = (bytes((self.tag, self.creds.priv_level, 0, 0)) + struct.pack("<I", self.console_sid)
                   + bytes((0, 0, 0, 8, s.auth_alg, 0, 0, 0, 1, 0, 0, 8, s.integrity_alg, 0, 0, 0,
                            2, 0, 0, 8, s.conf_alg, 0, 0, 0)))
        self.state = OPENING
        self._transmit(wire.encode_v20_clear(wire.PAYLOAD_OPEN_SESSION_REQUEST, payload), now)

    def _got_open_response(self, data: bytes, now: float) -> None:
        if self.state != OPENING or len(data) < 2 or data[0] != self.tag:
            self.counters["stale_handshake_replies"] += 1
            return  # stale answer to an earlier attempt
        status = data[1]
        if status in RMCP_SUITE_REFUSED and len(self.suites) > 1:
            self.suites.pop(0)
            self._open(now)
            return
        if status == RMCP_NO_RESOURCES:
            mine = self._others(self)
            holders = (f"this conductor holds {mine} other session(s) to it" if mine else
                       "native-ipmi in this conductor holds no other session to it, so other "
                       "clients (ipmitool, consoles, other conductors or tools) hold its slots")
            self._login_failed("the BMC has no free session slot (insufficient resources to "
                               f"create a session); {holders}")
            return
        if status:
            self._login_failed(f"Open Session refused: {errors.rmcp_status_text(status)}")
            return
        if len(data) < 36 or not struct.unpack_from("<I", data, 8)[0]:
            self._malformed(f"malformed Open Session answer ({len(data)} bytes)")
            return
        self.bmc_sid = struct.unpack_from("<I", data, 8)[0]
        self.rm = os.urandom(16)
        user = self.creds.username.encode()
        payload = (bytes((self.tag, 0, 0, 0)) + struct.pack("<I", self.bmc_sid) + self.rm
                   + bytes((self.role, 0, 0, len(user))) + user)
        self.state = RAKP1_SENT
        self._transmit(wire.encode_v20_clear(wire.PAYLOAD_RAKP1, payload), now)

    def _rakp_reply_ok(self, data: bytes, expected_state: int, name: str, now: float) -> bool:
        """Common checks of RAKP 2 and 4: ours, current, and a success status."""
        if self.state != expected_state or len(data) < 2 or data[0] != self.tag:
            self.counters["stale_handshake_replies"] += 1
            return False  # stale reply to an earlier attempt
        if data[1] == RMCP_INVALID_SESSION:
            self._restart(now, f"the BMC answered {name} with 'invalid session ID'")
            return False
        if data[1]:
            self._login_failed(f"{name}: {errors.rmcp_status_text(data[1])}")
            return False
        return True

    def _got_rakp2(self, data: bytes, now: float) -> None:
        if not self._rakp_reply_ok(data, RAKP1_SENT, "RAKP 2", now):
            return
        s = self.suite
        code_len = s.code_len
        if len(data) != 40 + code_len:
            self._malformed(f"malformed RAKP 2 ({len(data)} bytes, expected {40 + code_len})")
            return
        self.rc, self.guid = data[8:24], data[24:40]
        user, kuid = self.creds.username.encode(), self.creds.password.encode()
        expected = crypto.rakp2_code(s, kuid, self.console_sid, self.bmc_sid, self.rm, self.rc,
                                     self.guid, self.role, user)
        if data[40:] != expected:
            # Tell the BMC we give up, so it frees the slot now (as ipmitool does).
            abort = bytes((self.tag, 0x0F, 0, 0)) + struct.pack("<I", self.bmc_sid)
            self._send(self, wire.encode_v20_clear(wire.PAYLOAD_RAKP3, abort))
            self._login_failed("wrong password (the BMC's RAKP 2 code does not match)")
            return
        sik = crypto.session_integrity_key(s, self.creds.kg or kuid, self.rm, self.rc, self.role, user)
        self.keys = crypto.SessionKeys(s, sik)
        self._sik = sik
        payload = (bytes((self.tag, 0, 0, 0)) + struct.pack("<I", self.bmc_sid)
                   + crypto.rakp3_code(s, kuid, self.rc, self.console_sid, self.role, user))
        self.state = RAKP3_SENT
        self._transmit(wire.encode_v20_clear(wire.PAYLOAD_RAKP3, payload), now)

    def _got_rakp4(self, data: bytes, now: float) -> None:
        if not self._rakp_reply_ok(data, RAKP3_SENT, "RAKP 4", now):
            return
        icv = crypto.rakp4_icv(self.suite, self._sik, self.rm, self.bmc_sid, self.guid)
        if len(data) < 8 + len(icv):
            self._malformed(f"malformed RAKP 4 ({len(data)} bytes)")
            return
        if data[8 : 8 + len(icv)] != icv:
            self._login_failed("RAKP 4 integrity check failed (wrong Kg key?)")
            return
        self.out_seq = 0
        self.window = SequenceWindow()  # a new session: its numbers start again
        self.state = SETPRIV
        self.setpriv_tries = 0
        self.rq_seq = (self.rq_seq + 1) & 0x3F
        self._send_set_priv(now)

    def _send_set_priv(self, now: float) -> None:
        msg = wire.encode_request(NETFN_APP, CMD_SET_PRIV, bytes((self.creds.priv_level,)), self.rq_seq)
        self._transmit(self._seal(msg), now)

    # -- established session ---------------------------------------------------------

    def _got_session_packet(self, pkt: wire.Packet, now: float) -> None:
        if self.keys is None or not pkt.authenticated or not self.keys.verify(pkt.raw):
            if self.orphan is not None and self.orphan.answered(pkt):
                self.counters["orphans_closed"] += 1
                self.orphan = None
                return
            self.counters["unauthenticated_dropped"] += 1
            return  # not from our BMC, or stale keys: drop silently like a BMC would
        if not self.window.accept(pkt.sequence):
            self.counters["replays_rejected"] += 1
            return  # a replayed or duplicated reply: its twin was already taken, or too old
        self.last_traffic = now  # only authenticated, fresh traffic proves the session alive
        payload = self.keys.decrypt(pkt.payload) if pkt.encrypted else pkt.payload
        rsp = wire.Response.decode(payload)
        if self.state == CLOSING:
            if rsp.cmd == CMD_CLOSE and rsp.seq == self.close_seq:
                self.counters["sessions_closed_before_relogin"] += 1
                self._after_close(now)
            return
        if self.state == SETPRIV:
            if rsp.cmd != CMD_SET_PRIV or rsp.seq != self.rq_seq:
                return
            if rsp.code:
                level = self.creds.priv_level
                self._login_failed(f"the BMC refused privilege level {level} "
                                   f"(completion code 0x{rsp.code:02X}); check ipmi_priv_level")
                return
            self.state = ACTIVE
            self.problem = ""
            # The handshake's leftovers are of no more use: the next login makes its own.
            self.packet = self._sik = self.rm = self.rc = self.guid = b""
            self._pump(now)
            return
        call = self.inflight
        if self.state != ACTIVE or call is None or rsp.seq != call.seq:
            return  # a late duplicate of an earlier answer
        if call.bridge is not None and rsp.cmd == CMD_SEND_MESSAGE and rsp.netfn == NETFN_APP | 1:
            if rsp.code:
                self.inflight = None
                call.finish(errors.CommandFailed(NETFN_APP, CMD_SEND_MESSAGE, rsp.code))
                self._pump(now)
                return
            if not rsp.data:
                return  # the target's own answer follows as a message of its own
            rsp = wire.Response.decode(rsp.data)  # some BMCs embed it instead
        if rsp.cmd != call.cmd or rsp.netfn != call.netfn | 1:
            return
        self.inflight = None
        counters = self.counters  # round trip since the last (re)transmission, for metrics
        counters["answers"] += 1
        counters["rtt_us_total"] += int((now - call.sent_at) * 1e6)
        if rsp.code:
            call.finish(errors.CommandFailed(call.netfn, call.cmd, rsp.code))
        else:
            call.finish(rsp.data)
        self._pump(now)


# States that retransmit on the timer, and logins nobody waits for that may stop.
RETRANSMITTING = (AUTHCAP, OPENING, RAKP1_SENT, RAKP3_SENT, SETPRIV, BACKOFF, CLOSING)
ABANDONABLE = (AUTHCAP, OPENING, RAKP1_SENT, RAKP3_SENT, SETPRIV, BACKOFF)
