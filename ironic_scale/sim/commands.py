"""IPMI commands the simulated BMC answers, one small function each.

Every handler takes ``(bmc, session, data, now)`` and returns
``(completion_code, response_data)``, or raises ``Unanswered`` where a real BMC
stays silent. Unknown commands get 0xC1 (invalid command), short requests 0xC7,
as real BMCs answer them.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from ironic_scale.rmcp import crypto, wire
from ironic_scale.sim import sdr

if TYPE_CHECKING:
    from ironic_scale.sim.bmc import Bmc, Session

Handler = Callable[["Bmc", "Session | None", bytes, float], tuple[int, bytes]]

NETFN_CHASSIS, NETFN_SENSOR, NETFN_APP, NETFN_STORAGE = 0x00, 0x04, 0x06, 0x0A
PRIV_NONE, PRIV_CALLBACK, PRIV_USER, PRIV_OPERATOR, PRIV_ADMIN = 0, 1, 2, 3, 4

HANDLERS: dict[tuple[int, int], tuple[str, int, Handler]] = {}
# Commands answered outside a session (IPMI v2.0 section 13.14).
SESSIONLESS = {(NETFN_APP, 0x38), (NETFN_APP, 0x54)}

MANUFACTURER_ID = 0x00_0000  # "unspecified": no client switches to vendor OEM code
PRODUCT_ID = 0x0001
SDR_TIMESTAMP = 0x5F000000


def command(netfn: int, cmd: int, name: str, priv: int) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[(netfn, cmd)] = (name, priv, fn)
        return fn
    return register


class Unanswered(Exception):
    """The BMC sends no response to this request (it went down while running it)."""


def dispatch(bmc: "Bmc", session: "Session | None", req: wire.Request, now: float) -> bytes | None:
    """Run one request and encode the response message; None: no response."""
    entry = HANDLERS.get((req.netfn, req.cmd))
    if entry is None:
        bmc.counters["req.unknown"] += 1
        return req.response(wire.CC_INVALID_COMMAND)
    name, priv, fn = entry
    bmc.counters["req." + name] += 1
    if session is not None and session.priv < priv:
        return req.response(wire.CC_INSUFFICIENT_PRIVILEGE)
    try:
        cc, data = fn(bmc, session, req.data, now)
    except (IndexError, struct.error):  # request data shorter than the command needs
        cc, data = wire.CC_REQ_DATA_LEN_INVALID, b""
    except Unanswered:
        return None
    return req.response(cc, data)


OK = wire.CC_OK

# -- Application netfn ---------------------------------------------------------


@command(NETFN_APP, 0x01, "get_device_id", PRIV_CALLBACK)
def get_device_id(bmc, session, data, now):
    # SDR repository + sensor + chassis device; IPMI 2.0; firmware 1.23.
    return OK, (bytes((0x20, 0x01, 0x01, 0x23, 0x02, 0x83))
                + MANUFACTURER_ID.to_bytes(3, "little") + struct.pack("<H", PRODUCT_ID) + bytes(4))


@command(NETFN_APP, 0x02, "cold_reset", PRIV_ADMIN)
def cold_reset(bmc, session, data, now):
    """The BMC restarts: every session is gone, silent for ``reset_downtime``.

    It answers first (the answer is sealed with the session's keys, which the
    handler keeps), unless ``silent_cold_reset``: many BMCs reset before answering.
    """
    bmc.reboot_bmc(now, bmc.behaviour.reset_downtime)
    if bmc.behaviour.silent_cold_reset:
        raise Unanswered
    return OK, b""


@command(NETFN_APP, 0x03, "warm_reset", PRIV_ADMIN)
def warm_reset(bmc, session, data, now):
    """Management functions restart in place; sessions and host state stay (counted
    as ``req.warm_reset``)."""
    return OK, b""


@command(NETFN_APP, 0x38, "get_channel_auth_caps", PRIV_NONE)
def get_channel_auth_caps(bmc, session, data, now):
    channel = data[0] & 0x0F
    if channel not in (0x0E, 0x01):
        return wire.CC_INVALID_DATA_FIELD, b""
    extended = bool(data[0] & 0x80)
    # Only RMCP+ logins are offered; non-null user names; IPMI v2.0 only.
    return OK, bytes((0x01, 0x80 if extended else 0x00, 0x04, 0x02 if extended else 0x00, 0, 0, 0, 0))


@command(NETFN_APP, 0x54, "get_channel_cipher_suites", PRIV_NONE)
def get_channel_cipher_suites(bmc, session, data, now):
    if data[0] & 0x0F not in (0x0E, 0x01):
        return wire.CC_INVALID_DATA_FIELD, b""
    index = data[2] & 0x3F
    if data[2] & 0x80:  # list by cipher suite
        blob = b"".join(s.record() for s in crypto.SUITES.values())
    else:  # list of supported algorithms
        blob = bytes(sorted({a for s in crypto.SUITES.values()
                             for a in (s.auth_alg, 0x40 | s.integrity_alg, 0x80 | s.conf_alg)}))
    return OK, b"\x01" + blob[index * 16 : index * 16 + 16]


@command(NETFN_APP, 0x3B, "set_session_privilege", PRIV_CALLBACK)
def set_session_privilege(bmc, session, data, now):
    level = data[0] & 0x0F
    if level == 0:
        return OK, bytes((session.priv,))
    if level > min(session.max_priv, 4):
        return wire.CC_PRIV_EXCEEDS_LIMIT, b""
    session.priv = level
    return OK, bytes((level,))


@command(NETFN_APP, 0x3C, "close_session", PRIV_CALLBACK)
def close_session(bmc, session, data, now):
    sid = struct.unpack_from("<I", data)[0]
    if sid == 0 and len(data) > 4:
        sid = next((s.bmc_sid for s in bmc.sessions.values() if s.handle == data[4]), 0)
    if bmc.sessions.pop(sid, None) is None:
        return wire.CC_INVALID_SESSION_ID, b""
    bmc.counters["session.closed"] += 1
    return OK, b""


@command(NETFN_APP, 0x3D, "get_session_info", PRIV_USER)
def get_session_info(bmc, session, data, now):
    active = [s for s in bmc.sessions.values() if s.state == session.state]
    index = data[0]
    if index == 0:
        target = session
    elif index == 0xFE:
        target = next((s for s in active if s.handle == data[1]), None)
    elif index == 0xFF:
        sid = struct.unpack_from("<I", data, 1)[0]
        target = next((s for s in active if s.bmc_sid == sid), None)
    else:
        target = active[index - 1] if index <= len(active) else None
    head = bytes((target.handle if target else 0, bmc.behaviour.session_slots, len(active)))
    if target is None:
        return OK, head
    # An IPv6 console shows as 0.0.0.0: this layout has room for IPv4 only.
    ip = socket.inet_aton(target.peer[0]) if len(target.peer) == 2 else bytes(4)
    return OK, head + bytes((2, target.priv, 0x11)) + ip + bytes(6) + struct.pack("<H", target.peer[1])


# The one controller behind the BMC that Send Message reaches (channel, IPMB
# address): Ironic's documented bridging example (HP Moonshot cartridges).
BRIDGED_TARGET = (0x07, 0x72)
CC_NAK_ON_WRITE = 0x83


@command(NETFN_APP, 0x34, "send_message", PRIV_USER)
def send_message(bmc, session, data, now):
    """Bridge one request to the satellite controller (IPMI v2.0 section 22.7).

    Answered the way tracked LAN bridging is: Send Message completes at once
    with no data, and the controller's response follows as a message of its own.
    """
    channel, inner = data[0] & 0x0F, data[1:]
    try:
        req = wire.Request.decode(inner)
    except wire.Malformed:
        return wire.CC_INVALID_DATA_FIELD, b""
    if (channel, inner[0]) != BRIDGED_TARGET:
        return CC_NAK_ON_WRITE, b""
    req.rq_addr = wire.CONSOLE_ADDRESS  # deliver the answer to the console
    answer = dispatch(bmc, session, req, now)
    if answer is not None:
        bmc.deferred.append(answer)
    return OK, b""


@command(NETFN_APP, 0x37, "get_system_guid", PRIV_USER)
def get_system_guid(bmc, session, data, now):
    return OK, bmc.guid


# -- Chassis netfn -------------------------------------------------------------


@command(NETFN_CHASSIS, 0x01, "get_chassis_status", PRIV_USER)
def get_chassis_status(bmc, session, data, now):
    bmc.note_status_read(session.peer[0], now)
    # Power restore policy "previous" (bits 6:5 = 01b).
    return OK, bytes((0x20 | bmc.is_powered(now), 0x00, 0x00, 0x00))


_CONTROL = {0: "off", 1: "on", 2: "cycle", 3: "reset", 4: "diag", 5: "soft"}


@command(NETFN_CHASSIS, 0x02, "chassis_control", PRIV_OPERATOR)
def chassis_control(bmc, session, data, now):
    action = _CONTROL.get(data[0] & 0x0F)
    if action is None:
        return wire.CC_INVALID_DATA_FIELD, b""
    powered = bmc.is_powered(now)
    if action in ("cycle", "reset", "diag") and not powered:
        return wire.CC_NOT_IN_PRESENT_STATE, b""
    bmc.note_power_action(action)
    if action in ("on", "off"):
        bmc.power_action(action == "on", now)
    elif action in ("cycle", "reset"):
        bmc.power_action(True, now, reboot=True)
    elif action == "soft" and powered:
        bmc.power_action(False, now)
    return OK, b""


@command(NETFN_CHASSIS, 0x08, "set_boot_options", PRIV_OPERATOR)
def set_boot_options(bmc, session, data, now):
    param, value = data[0] & 0x7F, data[1:]
    if param == 0:
        bmc.boot_set_in_progress = value[0] & 0x03
    elif param == 3:
        bmc.boot_flag_clearing = value[0] & 0x1F
    elif param == 4:
        bmc.boot_info_ack = bytes(value[0:2])
    elif param == 5:
        if len(value) < 5:
            return wire.CC_REQ_DATA_LEN_INVALID, b""
        bmc.boot_flags[:] = value[0:5]
        bmc.boot_flags_set_at = now
    else:
        return wire.CC_PARAM_NOT_SUPPORTED, b""
    return OK, b""


@command(NETFN_CHASSIS, 0x09, "get_boot_options", PRIV_USER)
def get_boot_options(bmc, session, data, now):
    param = data[0] & 0x7F
    if param == 0:
        value = bytes((bmc.boot_set_in_progress,))
    elif param == 3:
        value = bytes((bmc.boot_flag_clearing,))
    elif param == 4:
        value = bmc.boot_info_ack
    elif param == 5:
        value = bytes(bmc.active_boot_flags(now))
        if not bmc.behaviour.boot_flags_byte1:
            value = b"\x00" + value[1:]
    else:
        return wire.CC_PARAM_NOT_SUPPORTED, b""
    return OK, bytes((0x01, param)) + value


# -- Storage and sensor netfns: the SDR repository ----------------------------


@command(NETFN_STORAGE, 0x20, "get_sdr_repository_info", PRIV_USER)
def get_sdr_repository_info(bmc, session, data, now):
    fault = bmc.behaviour.sdr_fault
    stamp = SDR_TIMESTAMP
    if fault == "timestamp":  # a new "last addition" time on every read
        stamp += bmc.counters["req.get_sdr_repository_info"]
    return OK, (struct.pack("<BHHII", 0x51, sdr.record_count(fault), 0, stamp, SDR_TIMESTAMP)
                + b"\x02")  # reserve supported


@command(NETFN_STORAGE, 0x22, "reserve_sdr_repository", PRIV_USER)
def reserve_sdr_repository(bmc, session, data, now):
    bmc.sdr_reservation = bmc.sdr_reservation % 0xFFFF + 1
    return OK, struct.pack("<H", bmc.sdr_reservation)


@command(NETFN_STORAGE, 0x23, "get_sdr", PRIV_USER)
def get_sdr(bmc, session, data, now):
    _reservation, record_id, offset, count = struct.unpack_from("<HHBB", data)
    fault = bmc.behaviour.sdr_fault
    if fault in sdr.FAULT_CODES:  # answered forever, whatever the client does
        return sdr.FAULT_CODES[fault], b""
    if fault == "chunked" and count > sdr.CHUNK_LIMIT:  # a legal BMC: read me in parts
        return sdr.FAULT_CODES["cc_ca"], b""
    found = sdr.lookup(fault, record_id or 1)
    if found is None:
        return wire.CC_SENSOR_NOT_PRESENT, b""
    record, following = found
    end = len(record) if count == 0xFF else offset + count
    return OK, struct.pack("<H", following) + record[offset:end]


@command(NETFN_SENSOR, 0x2D, "get_sensor_reading", PRIV_USER)
def get_sensor_reading(bmc, session, data, now):
    value = sdr.reading(data[0], bmc.is_powered(now))
    return (OK, value) if value is not None else (wire.CC_SENSOR_NOT_PRESENT, b"")


@command(NETFN_SENSOR, 0x27, "get_sensor_thresholds", PRIV_USER)
def get_sensor_thresholds(bmc, session, data, now):
    value = sdr.thresholds(data[0])
    return (OK, value) if value is not None else (wire.CC_SENSOR_NOT_PRESENT, b"")
