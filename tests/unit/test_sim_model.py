"""The simulator's model without sockets: framing, knobs, slots, boot flags."""

from __future__ import annotations

import random
import struct
from collections import Counter

import pytest

from ironic_scale.rmcp import wire
from ironic_scale.sim import commands, inventory
from ironic_scale.sim.behaviour import Behaviour, Latency, parse_duration
from ironic_scale.sim.bmc import POWER_LOG_LIMIT, Bmc
from ironic_scale.sim.supervisor import FleetPlan

PEER = ("127.0.0.1", 40000)


def make_bmc(**knobs) -> Bmc:
    return Bmc("127.1.0.1:623", "admin", "password", Behaviour().changed(**knobs), Counter(),
               random.Random(1))


def request(netfn: int, cmd: int, data: bytes = b"", seq: int = 1) -> bytes:
    head = bytes((0x20, netfn << 2))
    body = bytes((0x81, seq << 2, cmd)) + data
    return head + bytes((wire.checksum(head),)) + body + bytes((wire.checksum(body),))


def open_session(bmc: Bmc, now: float = 0.0, console_sid: int = 0x1234) -> bytes:
    payload = (bytes((7, 4, 0, 0)) + struct.pack("<I", console_sid)
               + bytes((0, 0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 8, 1, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0)))
    reply = bmc.handle(wire.encode_v20_clear(wire.PAYLOAD_OPEN_SESSION_REQUEST, payload), PEER, now)
    return wire.Packet.decode(reply).payload


def test_sessionless_get_channel_auth_caps_v15_and_v20_framing():
    bmc = make_bmc()
    for packet in (wire.encode_v15_sessionless(request(0x06, 0x38, b"\x8e\x04")),
                   wire.encode_v20_clear(wire.PAYLOAD_IPMI, request(0x06, 0x38, b"\x8e\x04"))):
        reply = wire.Packet.decode(bmc.handle(packet, PEER, 0.0))
        assert reply.authtype == wire.Packet.decode(packet).authtype
        msg = reply.payload
        assert msg[5] == 0x38 and msg[6] == 0x00  # command, completion code
        assert msg[7:15] == bytes((0x01, 0x80, 0x04, 0x02, 0, 0, 0, 0))
        assert wire.checksum(msg[3:-1]) == msg[-1]


def test_commands_other_than_auth_caps_need_a_session():
    bmc = make_bmc()
    assert bmc.handle(wire.encode_v15_sessionless(request(0x00, 0x01)), PEER, 0.0) is None
    assert bmc.counters["drop.needs_session"] == 1


@pytest.mark.parametrize("datagram", [
    b"", b"\x06\x00\xff\x07", b"\x06\x00\xff\x07\x06\x00" + bytes(8) + b"\xff\x00",
    wire.encode_v15_sessionless(b"\x20\x18\x00\x81\x04\x38\x00"),  # bad checksum
    b"\x06\x00\xff\x07\x02" + bytes(20),  # MD5 authtype, not offered
])
def test_malformed_datagrams_are_dropped_and_counted(datagram):
    bmc = make_bmc()
    assert bmc.handle(datagram, PEER, 0.0) is None
    assert bmc.counters["drop.malformed"] == 1


def test_asf_presence_ping_gets_a_pong():
    ping = b"\x06\x00\xff\x06" + struct.pack(">IBBBB", 4542, 0x80, 0x2A, 0, 0)
    pong = make_bmc().handle(ping, PEER, 0.0)
    assert pong[8] == 0x40 and pong[9] == 0x2A


def test_session_slots_are_enforced_and_freed_by_expiry():
    bmc = make_bmc(session_slots=2)
    assert open_session(bmc)[1] == 0
    assert open_session(bmc)[1] == 0
    refused = open_session(bmc)
    assert refused[1] == 0x01  # insufficient resources to create a session
    assert bmc.counters["login.no_slot"] == 1
    # Half-open handshakes give their slot back after a few seconds.
    assert open_session(bmc, now=60.0)[1] == 0
    assert len(bmc.sessions) == 1


def test_unsupported_cipher_proposal_is_refused():
    bmc = make_bmc()
    payload = (bytes((7, 4, 0, 0)) + struct.pack("<I", 1)
               + bytes((0, 0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 8, 0, 0, 0, 0)))
    reply = bmc.handle(wire.encode_v20_clear(wire.PAYLOAD_OPEN_SESSION_REQUEST, payload), PEER, 0.0)
    assert wire.Packet.decode(reply).payload[1] == 0x11  # no cipher suite match
    assert not bmc.sessions


def test_one_time_boot_flags_lapse_after_timeout_unless_disabled():
    bmc = make_bmc(boot_flag_timeout=60)
    bmc.boot_flags[:] = b"\x80\x04\x00\x00\x00"
    bmc.boot_flags_set_at = 0.0
    assert bmc.active_boot_flags(59.0)[0] & 0x80
    assert not bmc.active_boot_flags(61.0)[0] & 0x80
    bmc.boot_flags[:] = b"\x80\x04\x00\x00\x00"
    bmc.boot_flag_clearing = 0x08  # what Ironic's ipmi_disable_boot_timeout sets
    assert bmc.active_boot_flags(1000.0)[0] & 0x80


def test_persistent_boot_flags_survive_boots():
    bmc = make_bmc()
    bmc.boot_flags[:] = b"\xc0\x08\x00\x00\x00"  # valid, persistent, disk
    bmc.power_action(True, 0.0)
    assert bmc.last_boot_device == 2 and bmc.boot_flags[0] == 0xC0


def test_settle_delays_power_changes():
    bmc = make_bmc(settle="2s")
    bmc.power_action(True, now=10.0)
    assert not bmc.is_powered(11.0)
    assert bmc.is_powered(12.0)


def test_power_log_keeps_accepted_chassis_controls_in_order_and_bounded():
    bmc = make_bmc()
    for data in (b"\x01", b"\x02", b"\x00", b"\x03", b"\x09"):  # on, cycle, off, reset (refused), bad
        commands.chassis_control(bmc, None, data, 0.0)
    assert [a for _, a in bmc.power_log] == ["on", "cycle", "off"]
    assert bmc.power_actions == Counter({"on": 1, "cycle": 1, "off": 1})
    for _ in range(POWER_LOG_LIMIT):
        commands.chassis_control(bmc, None, b"\x01", 0.0)
    assert len(bmc.power_log) == POWER_LOG_LIMIT
    assert bmc.power_log[0][1] == "on" and bmc.power_actions["on"] == POWER_LOG_LIMIT + 1


def test_bmc_reboot_clears_sessions_and_goes_silent():
    bmc = make_bmc()
    open_session(bmc)
    assert bmc.reboot_bmc(now=5.0, downtime=10.0) == 1
    assert not bmc.sessions and bmc.down_until == 15.0


@pytest.mark.parametrize("text,expected", [
    ("5ms", Latency("fixed", 0.005)), ("0.2", Latency("fixed", 0.2)),
    ("uniform:1ms:10ms", Latency("uniform", 0.001, 0.01)),
    ("normal:20ms:5ms", Latency("normal", 0.02, 0.005)), ("exp:10ms", Latency("exp", 0.01)),
])
def test_latency_specs(text, expected):
    assert Latency.parse(text) == expected
    assert Latency.parse(text).sample(random.Random(0)) >= 0


@pytest.mark.parametrize("bad", ["fast", "uniform:10ms:1ms", "exp", "normal:1ms", "-5ms"])
def test_bad_latency_specs_are_refused_clearly(bad):
    with pytest.raises(ValueError, match="invalid"):
        Latency.parse(bad)


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError, match="loss"):
        Behaviour(loss=1.5)
    with pytest.raises(ValueError, match="unknown behaviour knob"):
        Behaviour().changed(colour="red")
    assert parse_duration("250ms") == 0.25


def test_loopback_addresses_skip_network_and_broadcast_octets():
    addrs = inventory.loopback_addresses("127.1.0.254", 3)
    assert addrs == ["127.1.0.254", "127.1.1.1", "127.1.1.2"]
    with pytest.raises(ValueError, match="not on loopback"):
        inventory.loopback_addresses("10.0.0.1", 1)
    with pytest.raises(ValueError, match="do not fit"):
        inventory.loopback_addresses("127.255.255.250", 10)


def test_plan_marks_dead_and_slow_bmcs_reproducibly():
    plan = FleetPlan(count=1000, dead_fraction=0.01, slow_fraction=0.02, seed=3)
    eps = plan.endpoints()
    assert sum(e.dead for e in eps) == 10 and sum(e.slow for e in eps) == 20
    assert not any(e.dead and e.slow for e in eps)
    assert [e.key for e in eps if e.dead] == [e.key for e in plan.endpoints() if e.dead]


def test_plan_refuses_too_few_processes():
    with pytest.raises(ValueError, match="need at least"):
        FleetPlan(count=10_000_000, processes=1).process_count()


def test_inventory_round_trip_and_bad_line(tmp_path):
    eps = FleetPlan(count=3, per_port=True, port=7000).endpoints()
    path = tmp_path / "inv.jsonl"
    inventory.write(path, eps)
    assert inventory.read(path) == eps
    path.write_text('{"address": "127.0.0.1"}\n')
    with pytest.raises(ValueError, match="inv.jsonl:1: bad inventory line"):
        inventory.read(path)


@pytest.mark.parametrize("netfn,cmd,data", [
    (0x06, 0x3C, b"\x01"),  # Close Session: 4-byte session id
    (0x06, 0x3D, b"\xff\x01"),  # Get Session Info by id: 4-byte id
    (0x0A, 0x23, b"\x00\x00\x01"),  # Get SDR: 6 bytes
    (0x00, 0x08, b"\x05\x80"),  # Set Boot Options param 5: 5 data bytes
    (0x00, 0x02, b""),  # Chassis Control: 1 byte
])
def test_short_requests_get_completion_code_c7(netfn, cmd, data):
    from ironic_scale.rmcp import crypto
    from ironic_scale.sim import commands
    from ironic_scale.sim.bmc import Session

    bmc = make_bmc()
    session = Session(1, 2, 1, crypto.SUITES[3], PEER, 0.0)
    session.priv = session.max_priv = 4
    msg = commands.dispatch(bmc, session, wire.Request.decode(request(netfn, cmd, data)), 0.0)
    assert msg[6] == wire.CC_REQ_DATA_LEN_INVALID
