"""A blocking call reads its own answer (``Engine._lead``), over real UDP to the simulator.

While a caller reads its session's socket the IO thread does not: the caller
routes whatever arrives there, its own answer or anyone's. These tests check
that the path is taken, that callers sharing one socket still each get their
own answers while a sweep runs beside them, and that a caller never keeps the
socket past its first retransmission, its deadline, or a shutdown.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from ironic_scale.ipmi import commands, errors
from ironic_scale.ipmi.credentials import BmcCredentials

NETFN_CHASSIS, GET_CHASSIS_STATUS = 0x00, 0x01


def creds_of(ep) -> BmcCredentials:
    return BmcCredentials(ep.address, ep.port, ep.username, ep.password)


def wait_for(condition, what: str, limit: float = 20.0) -> None:
    """Poll ``condition`` until true: the engine's counters have no event to wait on."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def one_warm_bmc(fleet_factory, engine_factory, retry_interval: float):
    """One simulated BMC, an engine with ``retry_interval``, a session already warm."""
    f = fleet_factory(1)
    ep = f.endpoints[0]
    engine = engine_factory(retry_interval=retry_interval)
    c = creds_of(ep)
    commands.get_power(engine, c, 5)
    return f, ep, engine, c


def test_a_warm_call_is_read_by_its_own_caller(fleet_factory, engine_factory):
    f = fleet_factory(2)
    engine = engine_factory(retry_interval=1.0)
    creds = [creds_of(ep) for ep in f.endpoints]
    for c in creds:
        commands.get_power(engine, c, 5)  # logins go through the IO thread
    before = engine.stats()
    for i in range(50):
        assert commands.get_power(engine, creds[i % 2], 5) is False
    stats = engine.stats()
    assert stats["led_calls"] - before.get("led_calls", 0) == 50
    assert stats.get("led_handed_back", 0) == 0
    assert stats["logins"] == 2


def test_callers_sharing_one_socket_get_their_own_answers_beside_a_sweep(fleet_factory,
                                                                        engine_factory):
    f = fleet_factory(24)
    on = {ep.key for ep in f.endpoints[::3]}
    f.control.power(sorted(on), "on")
    engine = engine_factory(sockets=1, retry_interval=1.0)  # every session on one socket
    creds = {ep.key: creds_of(ep) for ep in f.endpoints}
    wrong: list[str] = []
    crashed: list[BaseException] = []

    def poller(seed: int) -> None:
        keys = list(creds)
        random.Random(seed).shuffle(keys)
        try:
            for _ in range(4):
                for key in keys:
                    if commands.get_power(engine, creds[key], 10) is not (key in on):
                        wrong.append(key)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            crashed.append(e)

    def sweeper() -> None:
        try:
            for _ in range(5):
                answers = engine.submit_many(list(creds.values()), NETFN_CHASSIS,
                                             GET_CHASSIS_STATUS, timeout=10, window=8).result(60)
                for key, answer in zip(creds, answers, strict=True):
                    if not isinstance(answer, bytes) or bool(answer[0] & 1) is not (key in on):
                        wrong.append(f"sweep {key}: {answer!r}")
        except BaseException as e:  # noqa: BLE001
            crashed.append(e)

    threads = [threading.Thread(target=poller, args=(i,)) for i in range(6)]
    threads.append(threading.Thread(target=sweeper))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a caller hung"
    assert not crashed and not wrong
    stats = engine.stats()
    assert stats["led_calls"] > 0
    assert stats["sessions_created"] == 24 and stats["logins"] == 24


def test_a_lost_answer_comes_by_the_io_threads_retransmission(fleet_factory, engine_factory):
    f, ep, engine, c = one_warm_bmc(fleet_factory, engine_factory, 0.5)
    f.control.set([ep.key], loss=1.0)  # the next requests go unanswered
    result: list[object] = []
    caller = threading.Thread(target=lambda: result.append(commands.get_power(engine, c, 30)))
    caller.start()
    wait_for(lambda: engine.stats().get("led_handed_back", 0) == 1, "the caller to give the socket back")
    f.control.set([ep.key], loss=0.0)
    caller.join(30)
    assert result == [False]
    assert engine.stats()["retransmits"] >= 1


def test_a_deadline_before_the_first_retransmission_ends_the_call(fleet_factory, engine_factory):
    f, ep, engine, c = one_warm_bmc(fleet_factory, engine_factory, 60.0)  # no retransmission here
    f.control.set([ep.key], dead=True)
    with pytest.raises(errors.BMCTimeout):
        commands.get_power(engine, c, 0.5)
    stats = engine.stats()
    assert stats["led_calls"] == 1 and stats["led_handed_back"] == 1
    f.control.set([ep.key], dead=False)
    assert commands.get_power(engine, c, 5) is False  # the socket is read again


def test_shutdown_wakes_a_caller_reading_its_socket(fleet_factory, engine_factory):
    # Without the wake-up the caller would sit on its socket until the first
    # retransmission, 60 s away, and the join below would fail.
    f, ep, engine, c = one_warm_bmc(fleet_factory, engine_factory, 60.0)
    f.control.set([ep.key], dead=True)
    errors_seen: list[BaseException] = []

    def call() -> None:
        try:
            commands.get_power(engine, c, 120)
        except errors.IPMIError as e:
            errors_seen.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    wait_for(lambda: engine.stats().get("led_calls", 0) == 1, "the call to start")
    engine.shutdown()
    caller.join(10)
    assert not caller.is_alive(), "the caller kept waiting on its socket after shutdown"
    assert len(errors_seen) == 1 and "closed" in str(errors_seen[0])
