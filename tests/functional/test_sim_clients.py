"""The simulator against three independent IPMI clients over real UDP.

ipmitool (lanplus), FreeIPMI ipmipower and the pyghmi client, none patched.
"""

from __future__ import annotations

import time

import pytest
from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import command as pyghmi_command

from tests.ipmi_clients import ipmipower, ipmipower_states, ipmitool


def status(ep, **kw) -> str:
    res = ipmitool(ep, "chassis", "power", "status", **kw)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.parametrize("suite", [3, 17])
def test_ipmitool_power_cycle_of_states(fleet, suite):
    ep = fleet.endpoints[suite]  # a BMC of its own per suite
    assert status(ep, suite=suite) == "Chassis Power is off"
    res = ipmitool(ep, "chassis", "power", "cycle", suite=suite)
    assert res.returncode != 0, "a powered-off host cannot be power cycled"
    assert "0xd5" in res.stderr.lower() or "present state" in res.stderr.lower()
    assert ipmitool(ep, "chassis", "power", "on", suite=suite).returncode == 0
    assert status(ep, suite=suite) == "Chassis Power is on"
    assert ipmitool(ep, "chassis", "power", "cycle", suite=suite).returncode == 0
    assert status(ep, suite=suite) == "Chassis Power is on"
    assert ipmitool(ep, "chassis", "power", "off", suite=suite).returncode == 0
    assert status(ep, suite=suite) == "Chassis Power is off"
    state = fleet.control.state(ep.key)
    assert state["power_actions"] == {"on": 1, "cycle": 1, "off": 1}
    # The refused cycle is not logged; the accepted ones are, in order, with times.
    assert [action for _, action in state["power_log"]] == ["on", "cycle", "off"]
    times = [t for t, _ in state["power_log"]]
    assert times == sorted(times) and time.time() - 60 < times[0] <= time.time()


def test_ipmitool_boot_device_round_trip(fleet):
    ep = fleet.endpoints[0]
    res = ipmitool(ep, "chassis", "bootdev", "pxe", "options=persistent,efiboot")
    assert res.returncode == 0, res.stderr
    out = ipmitool(ep, "chassis", "bootparam", "get", "5").stdout
    assert "Force PXE" in out
    assert "Options apply to all future boots" in out
    assert "BIOS EFI boot" in out
    assert fleet.control.state(ep.key)["boot_flags"] == "e004000000"
    assert ipmitool(ep, "chassis", "bootdev", "disk").returncode == 0
    out = ipmitool(ep, "chassis", "bootparam", "get", "5").stdout
    assert "Force Boot from default Hard-Drive" in out
    assert "Options apply to only next boot" in out


def test_one_time_boot_flags_are_used_by_the_next_boot(fleet):
    ep = fleet.endpoints[1]
    assert ipmitool(ep, "chassis", "bootdev", "pxe").returncode == 0
    assert ipmitool(ep, "chassis", "power", "on").returncode == 0
    state = fleet.control.state(ep.key)
    assert state["last_boot_device"] == 1  # PXE
    assert state["boot_flags"][:2] == "00", "one-time flags must be cleared by the boot"


def test_ipmitool_sensors_and_mc_info(fleet):
    ep = fleet.endpoints[2]
    ipmitool(ep, "chassis", "power", "on")
    out = ipmitool(ep, "sdr", "list").stdout
    assert "CPU Temp" in out and "45 degrees C" in out
    assert "System Fan 1" in out and "5400 RPM" in out
    assert "12V" in out and "12 Volts" in out
    mc = ipmitool(ep, "mc", "info").stdout
    assert "IPMI Version              : 2.0" in mc


def test_ipmitool_wrong_password_and_unknown_user(fleet):
    ep = fleet.endpoints[4]
    before = fleet.control.counters()
    bad = ipmitool(ep, "chassis", "power", "status", password="not-the-password")
    assert bad.returncode != 0
    assert "RAKP" in bad.stderr or "Unable to establish" in bad.stderr
    nobody = ipmitool(ep, "chassis", "power", "status", user="nobody")
    assert nobody.returncode != 0
    after = fleet.control.counters()
    assert after.get("login.unknown_user", 0) > before.get("login.unknown_user", 0)
    assert after.get("login.ok", 0) == before.get("login.ok", 0)


def test_sessions_are_freed_on_close(fleet):
    ep = fleet.endpoints[5]
    for _ in range(3):
        status(ep)
    assert fleet.control.state(ep.key)["sessions"] == 0


def test_ipmipower_status_on_off(fleet):
    eps = fleet.endpoints[8:12]
    states = ipmipower_states(ipmipower(eps, "--stat").stdout)
    assert states == {e.address: "off" for e in eps}
    assert set(ipmipower_states(ipmipower(eps[:2], "--on").stdout).values()) == {"ok"}
    states = ipmipower_states(ipmipower(eps, "--stat").stdout)
    assert states == {eps[0].address: "on", eps[1].address: "on",
                      eps[2].address: "off", eps[3].address: "off"}
    assert set(ipmipower_states(ipmipower(eps[:1], "--off").stdout).values()) == {"ok"}
    assert ipmipower_states(ipmipower(eps[:1], "--stat").stdout) == {eps[0].address: "off"}


def test_ipmipower_wrong_password(fleet):
    out = ipmipower(fleet.endpoints[12:13], "--stat", password="wrong").stdout
    assert ipmipower_states(out) == {fleet.endpoints[12].address: "password invalid"}


def test_pyghmi_power_boot_and_sensors(fleet):
    ep = fleet.endpoints[13]
    c = pyghmi_command.Command(bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                               password=ep.password.encode())
    try:
        assert c.get_power() == {"powerstate": "off"}
        c.set_power("on", wait=True)
        assert c.get_power() == {"powerstate": "on"}
        c.set_bootdev("network", persist=True, uefiboot=True)
        assert c.get_bootdev() == {"bootdev": "network", "persistent": True, "uefimode": True}
        names = {s.name: s.value for s in c.get_sensor_data()}
        assert names["CPU Temp"] == 45.0 and names["System Fan 1"] == 5400.0
    finally:
        c.ipmi_session.logout()
    assert fleet.control.state(ep.key)["sessions"] == 0


def test_pyghmi_wrong_password(fleet):
    ep = fleet.endpoints[14]
    with pytest.raises(pyghmi_exc.IpmiException, match="Incorrect password"):
        pyghmi_command.Command(bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                               password=b"wrong")


def test_out_of_band_power_change_is_seen(fleet):
    ep = fleet.endpoints[15]
    fleet.control.power([ep.key], "on")
    assert status(ep) == "Chassis Power is on"
    fleet.control.power([ep.key], "off")
    assert status(ep) == "Chassis Power is off"


# -- behaviour knobs ----------------------------------------------------------


def test_dead_bmc_answers_nothing(fleet_factory):
    f = fleet_factory(4, "--dead-fraction", "0.5")
    dead = [e for e in f.endpoints if e.dead]
    alive = [e for e in f.endpoints if not e.dead]
    assert len(dead) == 2
    states = ipmipower_states(ipmipower(f.endpoints, "--stat", "--session-timeout", "1500").stdout)
    assert {states[e.address] for e in alive} == {"off"}
    assert {states[e.address] for e in dead} == {"connection timeout"}
    assert f.control.counters()["drop.dead"] > 0


def test_packet_loss_is_survived_by_retransmission(fleet_factory):
    f = fleet_factory(20, "--loss", "0.1", "--seed", "7")
    states = ipmipower_states(ipmipower(f.endpoints, "--stat").stdout)
    assert states == {e.address: "off" for e in f.endpoints}
    assert f.control.counters()["drop.loss"] > 0


def test_session_slot_exhaustion(fleet_factory):
    f = fleet_factory(1, "--session-slots", "1")
    ep = f.endpoints[0]
    holder = pyghmi_command.Command(bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                                    password=ep.password.encode())
    try:
        res = ipmitool(ep, "chassis", "power", "status")
        assert res.returncode != 0
        assert "insufficient resources" in res.stderr.lower()
        assert f.control.counters()["login.no_slot"] >= 1
    finally:
        holder.ipmi_session.logout()
    assert status(ep) == "Chassis Power is off"


def test_bmc_reboot_drops_sessions(fleet_factory):
    f = fleet_factory(1)
    ep = f.endpoints[0]
    c = pyghmi_command.Command(bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                               password=ep.password.encode())
    assert f.control.state(ep.key)["sessions"] == 1
    assert f.control.reboot([ep.key]) == 1
    assert f.control.state(ep.key)["sessions"] == 0
    # The old session is refused; the client notices and logs in again.
    assert c.raw_command(0x00, 0x01)["code"] == 0
    counters = f.control.counters()
    assert counters["drop.unknown_session"] >= 1
    assert counters["login.ok"] == 2
    c.ipmi_session.logout()


def test_idle_sessions_expire(fleet_factory):
    f = fleet_factory(1, "--session-timeout", "1s")
    ep = f.endpoints[0]
    pyghmi_command.Command(bmc=ep.address, port=ep.port, userid=ep.username.encode(),
                           password=ep.password.encode())
    deadline = time.monotonic() + 30
    while f.control.counters().get("session.expired", 0) == 0:
        assert time.monotonic() < deadline, "idle session never expired"
        time.sleep(0.2)
    assert f.control.state(ep.key)["sessions"] == 0


def test_power_actions_settle(fleet_factory):
    f = fleet_factory(1, "--settle", "3s")
    ep = f.endpoints[0]
    assert ipmitool(ep, "chassis", "power", "on").returncode == 0
    assert status(ep) == "Chassis Power is off", "power showed before the settle time"
    deadline = time.monotonic() + 30
    while status(ep) != "Chassis Power is on":
        assert time.monotonic() < deadline, "power never settled"


def test_latency_is_added(fleet_factory):
    f = fleet_factory(1, "--latency", "150ms")
    ep = f.endpoints[0]
    t0 = time.monotonic()
    status(ep)
    # One login is at least 6 request/reply exchanges, each delayed 150 ms.
    assert time.monotonic() - t0 >= 0.9


def test_ipmitool_single_bridging_to_the_satellite_controller(fleet):
    ep = fleet.endpoints[16]
    res = ipmitool(ep, "-b", "7", "-t", "0x72", "chassis", "power", "status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "Chassis Power is off"
    res = ipmitool(ep, "-b", "7", "-t", "0x74", "chassis", "power", "status")
    assert res.returncode != 0, "nothing answers at 0x74"


def test_status_reads_name_the_hosts_a_window_polled(fleet_factory):
    fleet = fleet_factory(6, "--dead-fraction", "0")
    polled, skipped = fleet.endpoints[:4], fleet.endpoints[4:]
    before = time.time()
    for ep in polled:
        assert ipmitool(ep, "chassis", "power", "status").returncode == 0
    after = time.time()
    window = fleet.control.status_reads(before, after)
    assert window["polled"] == 4
    assert window["reads"] == 4
    assert window["missed_count"] == 2
    assert window["missed"] == sorted(ep.key for ep in skipped)
    assert fleet.control.status_reads(after + 0.001)["polled"] == 0  # later window: nothing yet
