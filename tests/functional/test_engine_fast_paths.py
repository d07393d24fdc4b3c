"""The engine's cheap paths (issue 13), over real UDP to the simulator.

Keepalives go only to sessions idle past the interval; a sweep runs as one
``submit_many`` job and still answers every BMC in order; a blocking call may
start in the caller's thread, and then still comes after what was queued.
"""

from __future__ import annotations

import time

import pytest

from ironic_scale.ipmi import commands, errors
from ironic_scale.ipmi.credentials import BmcCredentials

NETFN_CHASSIS, GET_CHASSIS_STATUS = 0x00, 0x01


def creds_of(ep) -> BmcCredentials:
    return BmcCredentials(ep.address, ep.port, ep.username, ep.password)


def device_ids(fleet) -> int:
    """Get Device ID requests this fleet received: the engine's keepalive."""
    return fleet.control.counters().get("req.get_device_id", 0)


def test_keepalives_go_only_to_sessions_idle_past_the_interval(fleet_factory, engine_factory):
    busy_fleet, idle_fleet = fleet_factory(2), fleet_factory(2)  # counted apart on the wire
    engine = engine_factory(keepalive_interval=1.0)
    busy = [creds_of(ep) for ep in busy_fleet.endpoints]
    for c in busy + [creds_of(ep) for ep in idle_fleet.endpoints]:
        commands.get_power(engine, c, 5)
    kept0 = engine.stats().get("keepalives", 0)
    deadline = time.monotonic() + 20
    # Poll the busy pair every 0.1 s (a tenth of the interval) until each idle
    # session has had about two keepalives.
    while device_ids(idle_fleet) < 4:
        assert time.monotonic() < deadline, "idle sessions got no keepalives"
        for c in busy:
            assert commands.get_power(engine, c, 5) is False
        time.sleep(0.1)  # the polling rate under test, not a wait for an event
    assert device_ids(busy_fleet) == 0, "a session polled within the interval got a keepalive"
    assert engine.stats()["keepalives"] - kept0 == device_ids(idle_fleet)
    assert engine.stats()["logins"] == 4


def test_submit_many_answers_in_order_with_dead_bmcs_and_names(fleet_factory, engine_factory):
    f = fleet_factory(40, "--dead-fraction", "0.1", "--seed", "5")
    on = {ep.key for ep in f.endpoints[::4]}
    f.control.power(sorted(on), "on")
    engine = engine_factory()
    creds = [creds_of(ep) for ep in f.endpoints]
    creds.insert(7, BmcCredentials("bmc.invalid", 623, "admin", "password"))  # never resolves
    creds.append(creds[0])  # the same BMC twice in one sweep: one session, two answers
    answers = engine.submit_many(creds, NETFN_CHASSIS, GET_CHASSIS_STATUS, timeout=1.5,
                                 window=4).result(60)
    assert len(answers) == len(creds)
    assert isinstance(answers[7], errors.IPMIError)
    for c, answer in zip(creds[:7] + creds[8:], answers[:7] + answers[8:], strict=True):
        ep = next(ep for ep in f.endpoints if ep.address == c.address and ep.port == c.port)
        if ep.dead:
            assert isinstance(answer, errors.BMCTimeout)
        else:
            assert isinstance(answer, bytes) and bool(answer[0] & 1) is (ep.key in on)
    assert engine.stats()["sessions_created"] == len(f.endpoints)


def test_submit_many_refuses_a_bad_request_in_the_callers_thread(engine_factory):
    engine = engine_factory()
    with pytest.raises(ValueError, match="invalid IPMI request"):
        engine.submit_many([BmcCredentials("127.0.0.1")], 0x40, 0x01)
    assert engine.submit_many([], NETFN_CHASSIS, GET_CHASSIS_STATUS).result(1) == []


def test_shutdown_mid_sweep_answers_every_bmc(fleet_factory, engine_factory):
    f = fleet_factory(20, "--dead-fraction", "1.0")  # nobody answers: the sweep is stuck on them
    engine = engine_factory()
    future = engine.submit_many([creds_of(ep) for ep in f.endpoints], NETFN_CHASSIS,
                                GET_CHASSIS_STATUS, timeout=30.0, window=5)
    engine.stats()  # the batch job has been taken
    engine.shutdown()
    answers = future.result(10)
    assert len(answers) == 20 and all(isinstance(a, errors.IPMIError) for a in answers)


def test_a_call_in_the_callers_thread_keeps_queue_order(fleet_factory, engine_factory):
    f = fleet_factory(1)
    engine = engine_factory()
    c = creds_of(f.endpoints[0])
    commands.get_power(engine, c, 5)
    for _ in range(20):
        assert commands.get_power(engine, c, 5) is False
    assert engine.stats().get("direct_starts", 0) > 0, "no call started in the caller's thread"
    for _ in range(5):
        engine.close(c)  # queued: the call below must not overtake it
        assert commands.get_power(engine, c, 5) is False
    stats = engine.stats()
    assert stats["logins"] == 6 and stats["closed"] == 5
    assert f.control.counters()["live_sessions"] == 1
