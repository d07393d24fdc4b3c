"""The native RMCP+ client against the simulator over real UDP."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import wait

import pytest

from ironic_scale.ipmi import commands, errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.poller import PowerPoller


def creds_of(ep, **kw) -> BmcCredentials:
    return BmcCredentials(ep.address, ep.port, ep.username, kw.pop("password", ep.password), **kw)


def wait_until(condition, what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("suite", [3, 17, None])
def test_power_actions_on_each_cipher_suite(fleet_factory, engine_factory, suite):
    f = fleet_factory(1)
    ep, engine = f.endpoints[0], engine_factory()
    c = creds_of(ep, cipher_suite=suite)
    assert commands.get_power(engine, c, 5) is False
    commands.chassis_control(engine, c, "on", 5)
    assert commands.get_power(engine, c, 5) is True
    assert f.control.state(ep.key)["power"] == "on"
    commands.chassis_control(engine, c, "off", 5)
    assert f.control.state(ep.key)["power"] == "off"
    assert engine.stats()["logins"] == 1, "one login, then the session is reused"


def test_boot_flags_and_device_id(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep, engine = f.endpoints[0], engine_factory()
    c = creds_of(ep)
    commands.disable_boot_flag_timeout(engine, c, 5)
    commands.set_boot_flags(engine, c, "pxe", persistent=True, efi=True, timeout=5)
    assert commands.get_boot_flags(engine, c, 5) == commands.BootFlags(True, True, True, "pxe")
    state = f.control.state(ep.key)
    assert state["boot_flags"] == "e004000000" and state["boot_flag_clearing"] == 8
    assert commands.get_device_id(engine, c, 5).ipmi_version == "2.0"
    names = {s["name"]: s["value"] for s in commands.get_sensors(engine, c, 5)}
    assert names["CPU Temp"] == 24.0  # host off


def test_completion_code_is_reported(fleet_factory, engine_factory):
    f = fleet_factory(1)
    engine = engine_factory()
    with pytest.raises(errors.CommandFailed, match=r"completion code 0xD5") as exc:
        commands.chassis_control(engine, creds_of(f.endpoints[0]), "cycle", 5)  # host is off
    assert exc.value.code == 0xD5


def test_wrong_password_fails_clearly_and_frees_the_slot(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep, engine = f.endpoints[0], engine_factory()
    with pytest.raises(errors.LoginFailed, match="wrong password") as exc:
        commands.get_power(engine, creds_of(ep, password="s3cret-wrong"), 5)
    assert "s3cret-wrong" not in str(exc.value)
    assert f.control.counters()["login.aborted_by_client"] == 1
    assert f.control.state(ep.key)["sessions"] == 0


def test_unknown_user_fails_clearly(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep = f.endpoints[0]
    c = BmcCredentials(ep.address, ep.port, "nobody", ep.password)
    with pytest.raises(errors.LoginFailed, match="Unauthorized name"):
        commands.get_power(engine_factory(), c, 5)


def test_a_dead_bmc_costs_only_its_own_deadline(fleet_factory, engine_factory):
    f = fleet_factory(40, "--dead-fraction", "0.05")
    engine = engine_factory()
    futures = {ep.key: (ep, engine.submit(creds_of(ep), 0x00, 0x01, b"", timeout=4.0))
               for ep in f.endpoints}
    alive = [fut for ep, fut in futures.values() if not ep.dead]
    dead = [fut for ep, fut in futures.values() if ep.dead]
    done, pending = wait(alive, timeout=3.0)
    assert not pending, "live BMCs waited behind dead ones"
    assert not any(fut.done() for fut in dead), "dead BMCs answered?"
    for fut in dead:
        with pytest.raises(errors.BMCTimeout, match="no answer from the BMC"):
            fut.result(10)


def test_bulk_poller_answers_every_bmc_in_order(fleet_factory, engine_factory):
    f = fleet_factory(60, "--dead-fraction", "0.05")
    on = {ep.key for ep in f.endpoints[::3]}
    f.control.power(sorted(on), "on")
    engine = engine_factory()
    with PowerPoller(engine, pool_size=4, window=8) as poller:
        results = poller.poll([creds_of(ep) for ep in f.endpoints], timeout=2.0)
    for ep, result in zip(f.endpoints, results, strict=True):
        if ep.dead:
            assert isinstance(result, errors.BMCTimeout)
        else:
            assert result is (ep.key in on)


def test_bmc_reboot_mid_session_logs_in_again(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep, engine = f.endpoints[0], engine_factory()
    c = creds_of(ep)
    assert commands.get_power(engine, c, 5) is False
    f.control.reboot([ep.key])
    f.control.power([ep.key], "on")
    assert commands.get_power(engine, c, 5) is True
    stats = engine.stats()
    assert stats["logins"] == 2 and stats["relogins"] == 1
    assert f.control.counters()["drop.unknown_session"] >= 1


def test_session_slot_exhaustion_is_a_clear_error(fleet_factory, engine_factory):
    f = fleet_factory(1, "--session-slots", "1")
    ep = f.endpoints[0]
    holder, other = engine_factory(), engine_factory()
    commands.get_power(holder, creds_of(ep), 5)
    with pytest.raises(errors.LoginFailed, match="no free session slot"):
        commands.get_power(other, creds_of(ep), 5)
    holder.close(creds_of(ep))
    wait_until(lambda: f.control.state(ep.key)["sessions"] == 0, "the held session to close")
    assert commands.get_power(other, creds_of(ep), 5) is False


def test_ten_percent_packet_loss_gives_right_answers(fleet_factory, engine_factory):
    f = fleet_factory(30, "--loss", "0.1", "--seed", "3")
    on = {ep.key for ep in f.endpoints[::2]}
    f.control.power(sorted(on), "on")
    engine = engine_factory()
    creds = [creds_of(ep) for ep in f.endpoints]
    with PowerPoller(engine, pool_size=4) as poller:
        for _ in range(3):
            results = poller.poll(creds, timeout=10.0)
            assert results == [ep.key in on for ep in f.endpoints]
    assert f.control.counters()["drop.loss"] > 0


def test_password_change_takes_effect_on_the_next_call(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep, engine = f.endpoints[0], engine_factory()
    commands.get_power(engine, creds_of(ep), 5)
    f.control.set([ep.key], password="rotated")
    f.control.reboot([ep.key])  # the old session is gone too
    with pytest.raises(errors.LoginFailed, match="wrong password"):
        commands.get_power(engine, creds_of(ep), 5)
    assert commands.get_power(engine, creds_of(ep, password="rotated"), 5) is False


def test_idle_sessions_are_logged_out(fleet_factory, engine_factory):
    f = fleet_factory(3)
    engine = engine_factory(idle_timeout=0.5)
    for ep in f.endpoints:
        commands.get_power(engine, creds_of(ep), 5)
    assert f.control.counters()["live_sessions"] == 3
    wait_until(lambda: f.control.counters()["live_sessions"] == 0, "idle sessions to be logged out")
    assert engine.stats()["evicted_idle"] == 3


def test_keepalive_holds_the_session_past_the_bmc_timeout(fleet_factory, engine_factory):
    f = fleet_factory(1, "--session-timeout", "1.5s")
    ep, engine = f.endpoints[0], engine_factory(keepalive_interval=0.5)
    commands.get_power(engine, creds_of(ep), 5)
    wait_until(lambda: f.control.counters().get("req.get_device_id", 0) >= 4, "keepalives")
    commands.get_power(engine, creds_of(ep), 5)
    assert engine.stats()["logins"] == 1
    assert f.control.counters().get("session.expired", 0) == 0


def test_min_command_interval_spaces_commands_to_one_bmc(fleet_factory, engine_factory):
    f = fleet_factory(1)
    engine = engine_factory(min_command_interval=0.3)
    c = creds_of(f.endpoints[0])
    commands.get_power(engine, c, 5)
    t0 = time.monotonic()
    for _ in range(3):
        commands.get_power(engine, c, 5)
    assert time.monotonic() - t0 >= 0.85


@pytest.mark.slow
def test_stress_1000_bmcs_32_threads_with_relogins_and_reboots(fleet_factory, engine_factory):
    """No hang, no wrong answer, no leaked session (stock pyghmi deadlocks here)."""
    f = fleet_factory(1000, "--seed", "11")
    on = {ep.key for ep in f.endpoints if random.Random(ep.key).random() < 0.5}
    f.control.power(sorted(on), "on")
    engine = engine_factory(retry_interval=0.25)
    creds = [creds_of(ep) for ep in f.endpoints]
    wrong, failed, calls = [], [], [0]
    stop = threading.Event()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(150):
            i = rng.randrange(len(creds))
            try:
                state = commands.get_power(engine, creds[i], 15)
            except errors.IPMIError as e:
                failed.append((f.endpoints[i].key, str(e)))
                continue
            calls[0] += 1
            if state is not (f.endpoints[i].key in on):
                wrong.append(f.endpoints[i].key)

    def chaos() -> None:
        rng = random.Random(99)
        while not stop.is_set():
            victims = [f.endpoints[rng.randrange(1000)].key for _ in range(20)]
            f.control.reboot(victims)  # every session of these BMCs vanishes
            for i in rng.sample(range(1000), 20):
                engine.close(creds[i])  # forced logout: the next call logs in again
            stop.wait(0.05)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(32)]
    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    for t in threads:
        t.start()
    for t in threads:  # the watchdog: a hung call fails the test instead of blocking it
        t.join(timeout=240)
        assert not t.is_alive(), "a poller thread hung"
    stop.set()
    chaos_thread.join(30)
    assert not wrong, f"wrong answers from {wrong[:5]}"
    assert not failed, f"failed calls: {failed[:5]}"
    assert calls[0] == 32 * 150
    stats = engine.stats()
    assert stats["relogins"] > 0 and stats.get("engine_errors", 0) == 0
    engine.shutdown()
    wait_until(lambda: f.control.counters()["live_sessions"] == 0, "every session to be closed")


def test_calls_after_shutdown_fail_at_once(fleet_factory, engine_factory):
    f = fleet_factory(1)
    engine = engine_factory()
    c = creds_of(f.endpoints[0])
    commands.get_power(engine, c, 5)
    engine.shutdown()
    engine.shutdown()
    with pytest.raises(errors.IPMIError, match="shut down"):
        commands.get_power(engine, c, 5)
    assert f.control.counters()["live_sessions"] == 0


def test_single_bridging_reaches_the_controller_behind_the_bmc(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep, engine = f.endpoints[0], engine_factory()
    bridged = creds_of(ep, bridge=(0x07, 0x72))
    assert commands.get_power(engine, bridged, 5) is False
    commands.chassis_control(engine, bridged, "on", 5)
    assert commands.get_power(engine, bridged, 5) is True
    counters = f.control.counters()
    assert counters["req.send_message"] == 3 and counters["req.chassis_control"] == 1
    with pytest.raises(errors.CommandFailed, match=r"0x83"):  # nothing at that address
        commands.get_power(engine, creds_of(ep, bridge=(0x07, 0x74)), 5)
    assert engine.stats()["logins"] == 1, "bridged and direct requests share the session"


@pytest.mark.parametrize("netfn,cmd,lun", [(0x40, 0x01, 0), (0x00, 0x100, 0), (0x00, 0x01, 4),
                                           (-1, 0x01, 0)])
def test_impossible_requests_fail_in_the_callers_thread(engine_factory, netfn, cmd, lun):
    engine = engine_factory()
    c = BmcCredentials("127.0.0.1", 9, "admin", "pw")
    with pytest.raises(ValueError, match="invalid IPMI request"):
        engine.submit(c, netfn, cmd, b"", 1.0, lun)
    assert engine.stats().get("engine_errors", 0) == 0
