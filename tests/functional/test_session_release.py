"""Giving BMC session slots back, over real UDP to the simulator.

The idle logout that follows the power sync:

A conductor's engine gets its idle timeout from ``[conductor]sync_power_state_interval``
(``[native_ipmi]idle_timeout`` unset): a BMC polled every interval keeps its one session,
a BMC no longer polled (its node moved to another conductor) is logged out although
keepalives kept the session alive meanwhile, and the simulator shows the slot freed.
The floor (60 s) is lowered so that a 1 s "sync interval" gives a 2.5 s timeout.

And a conductor that stops: ``release_sessions`` logs out of every session at once and,
from then on, of each one right after its answer (what native-ipmi does on a graceful
conductor stop, drivers/conductor_stop.py).

Everything (BMCs and the client's source address) is in 127.125.0.0/16.
"""

from __future__ import annotations

import threading
import time

from ironic.conf import conductor as ironic_conductor_opts
from oslo_config import cfg

from ironic_scale import conf as ns_conf
from ironic_scale.ipmi import commands
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine
from tests.fleets import start_in_range

SOURCE = "127.125.254.1"


def conductor_conf(sync_interval: int, **native: object) -> cfg.ConfigOpts:
    """A conductor's config: Ironic's own [conductor] options and [native_ipmi]."""
    conf = cfg.ConfigOpts()
    conf.register_opts(ironic_conductor_opts.opts, group="conductor")
    ns_conf.register_opts(conf)
    conf([])
    conf.set_override("sync_power_state_interval", sync_interval, group="conductor")
    for name, value in native.items():
        conf.set_override(name, value, group=ns_conf.GROUP)
    return conf


def start(fleet_factory, count: int):
    return start_in_range(fleet_factory, count, "127.125", (1, 199))


def held(fleet, key: str) -> dict[str, int]:
    return fleet.control.requesters([key])["requesters"][key]["held"]


def test_a_bmc_no_longer_polled_is_logged_out_one_polled_every_interval_is_kept(
        fleet_factory, monkeypatch):
    monkeypatch.setattr(ns_conf, "IDLE_FLOOR", 0.0)
    conf = conductor_conf(1, keepalive_interval=1.0, source_address=SOURCE, retry_interval=0.2)
    config = ns_conf.engine_config(conf)
    assert config.idle_timeout == 2.5  # 2.5 x the sync interval: nobody set it
    fleet = start(fleet_factory, 2)
    polled, moved = (BmcCredentials(ep.address, ep.port, ep.username, ep.password)
                     for ep in fleet.endpoints)
    keys = [ep.key for ep in fleet.endpoints]
    engine = Engine(config)
    stop = threading.Event()

    def sync() -> None:  # this conductor's power sync: its own node, every interval
        while not stop.is_set():
            commands.get_power(engine, polled, 5)
            stop.wait(1.0)

    try:
        commands.get_power(engine, moved, 5)  # polled once, then its node moves away
        poller = threading.Thread(target=sync, daemon=True)
        poller.start()
        t0 = time.monotonic()
        assert held(fleet, keys[1]) == {SOURCE: 1}
        deadline = t0 + 10.0
        while held(fleet, keys[1]) and time.monotonic() < deadline:
            time.sleep(0.1)
        freed_after = time.monotonic() - t0
        assert held(fleet, keys[1]) == {}, "the idle session was not logged out"
        # Not before the timeout, and within the engine's 1 s maintenance tick after it;
        # keepalives (1 s) went to it meanwhile and did not count as use.
        assert 2.0 <= freed_after <= 5.0, freed_after
        stats = engine.stats()
        assert stats["evicted_idle"] == 1 and stats["keepalives"] >= 1
        time.sleep(2.0)  # the polled BMC has outlived the timeout twice over by now
        assert held(fleet, keys[0]) == {SOURCE: 1}
        entry = fleet.control.requesters([keys[0]])["requesters"][keys[0]]
        assert entry["sources"][SOURCE]["logins"] == 1  # one session, kept across polls
        assert entry["sources"][SOURCE]["status_reads"] >= 5
        assert engine.stats()["evicted_idle"] == 1
    finally:
        stop.set()
        engine.shutdown()
    assert held(fleet, keys[0]) == {}  # shut down: logged out


def test_an_operators_idle_timeout_wins(fleet_factory):
    conf = conductor_conf(600, idle_timeout=1.5, source_address=SOURCE, retry_interval=0.2)
    assert ns_conf.engine_config(conf).idle_timeout == 1.5  # not 1500 (2.5 x 600 s)
    fleet = start(fleet_factory, 1)
    ep = fleet.endpoints[0]
    engine = Engine(ns_conf.engine_config(conf))
    try:
        commands.get_power(engine, BmcCredentials(ep.address, ep.port, ep.username, ep.password), 5)
        assert held(fleet, ep.key) == {SOURCE: 1}
        deadline = time.monotonic() + 5.0
        while held(fleet, ep.key) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held(fleet, ep.key) == {}
        assert engine.stats()["evicted_idle"] == 1
    finally:
        engine.shutdown()


def test_release_sessions_logs_out_now_and_after_every_answer_until_kept_again(fleet_factory):
    fleet = start(fleet_factory, 3)
    bmcs = [BmcCredentials(ep.address, ep.port, ep.username, ep.password) for ep in fleet.endpoints]
    keys = [ep.key for ep in fleet.endpoints]
    engine = Engine(ns_conf.engine_config(conductor_conf(120, source_address=SOURCE, retry_interval=0.2)))
    try:
        for c in bmcs:
            commands.get_power(engine, c, 5)
        assert [held(fleet, k) for k in keys] == [{SOURCE: 1}] * 3
        engine.release_sessions()
        deadline = time.monotonic() + 2.0
        while any(held(fleet, k) for k in keys) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [held(fleet, k) for k in keys] == [{}] * 3
        # Requests still work while releasing: each logs in, and out right after its answer.
        assert commands.get_power(engine, bmcs[0], 5) is False
        commands.chassis_control(engine, bmcs[1], "on", 5)
        assert fleet.control.state(keys[1])["power"] == "on"
        time.sleep(0.2)  # the Close Session datagrams are on their way already
        assert [held(fleet, k) for k in keys] == [{}] * 3
        assert engine.stats()["released"] == 5  # 3 at once, then one after each answer
        engine.keep_sessions()  # a conductor started again in this process
        commands.get_power(engine, bmcs[2], 5)
        time.sleep(1.5)
        assert held(fleet, keys[2]) == {SOURCE: 1}
    finally:
        engine.shutdown()


def test_release_before_the_engine_ever_started(fleet_factory):
    fleet = start(fleet_factory, 1)
    ep = fleet.endpoints[0]
    engine = Engine(ns_conf.engine_config(conductor_conf(120, source_address=SOURCE, retry_interval=0.2)))
    try:
        engine.release_sessions()  # no IO thread yet: nothing to log out, nothing started
        assert engine._thread is None
        commands.get_power(engine, BmcCredentials(ep.address, ep.port, ep.username, ep.password), 5)
        time.sleep(0.2)
        assert held(fleet, ep.key) == {}
    finally:
        engine.shutdown()
