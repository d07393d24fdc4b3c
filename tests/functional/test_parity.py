"""Parity: Ironic's ``ipmitool`` interfaces and ``native-ipmi`` against the same BMC.

Every power and management method is run twice on one BMC, once through
Ironic's ``ipmitool`` power and management interfaces (Ironic's own code
forking the real ``ipmitool`` binary) and once through ``native-ipmi``, on
two nodes of Ironic's test database that share the BMC; the BMC is reset
between the two runs. The answers (values, or the exception's type) must be
the same. Each test runs against two BMC kinds: OpenIPMI's ``ipmi_sim`` and
the project's simulator (one subclass each).

Where the drivers differ on purpose, ``DIFFERENCES`` names the difference and
why; the test then asserts exactly that difference, so it fails both if the
difference goes away and if another one appears.
"""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

import contextlib
import json
import random
import subprocess
import sys
import tempfile
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ironic.common import boot_devices, exception, states
from ironic.conductor import task_manager
from ironic.drivers.modules import ipmitool

from ironic_scale.sim.launcher import start_fleet
from tests.ipmi_sim import IPMI_SIM, IPMITOOL, running_ipmi_sim
from tests.unit.drivers import NativeIPMITestCase

USER, PASSWORD = "admin", "password"
DEAD_ADDRESS = "127.139.255.1"  # nothing listens here (this file's range: 127.130-139)
DRIVERS = ("ipmitool", "native-ipmi")

_SIM = "ironic-scale sim"
_THRESHOLD_KEYS_IPMITOOL = [
    "Entity ID", "Event Message Control", "Lower critical", "Lower non-critical",
    "Lower non-recoverable", "Maximum sensor range", "Minimum sensor range", "Negative Hysteresis",
    "Nominal Reading", "Normal Maximum", "Normal Minimum", "Positive Hysteresis",
    "Readable Thresholds", "Sensor ID", "Sensor Reading", "Sensor Type (Threshold)",
    "Settable Thresholds", "Status", "Threshold Read Mask", "Upper critical", "Upper non-critical",
    "Upper non-recoverable"]
# (test, BMC kind or "*") -> (ipmitool's answer, native-ipmi's answer, why they differ).
DIFFERENCES: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("boot_device_after_boot", _SIM): (
        ("2004000000", {"boot_device": "pxe", "persistent": False}),
        ("2004000000", {"boot_device": None, "persistent": False}),
        "the host used the one-time flags and the BMC cleared the valid bit: the next boot "
        "uses the BIOS order, which native-ipmi reports as no override; ipmitool ignores the "
        "bit (see ironic_scale.drivers.management)"),
    **{(f"set_and_get_boot_device safe persistent={persistent} bios", "ipmi_sim"): (
        (None, "0018000000", {"boot_device": "bios", "persistent": False}),
        ("raises IPMIFailure", "0018000000", {"boot_device": "bios", "persistent": False}),
        "ipmi_sim refuses the safe-mode selector (0xFF); `ipmitool chassis bootdev safe` prints "
        "the error but exits 0, so Ironic's ipmitool interface reports success for a boot "
        "device that was not set. native-ipmi raises IPMIFailure") for persistent in (False, True)},
    ("detect_vendor", "*"): (
        "unknown", "iana-0",
        "native-ipmi names vendors as Ironic compares them ('dell', 'supermicro') and never "
        "returns an empty or generic name; ipmitool returns its own manufacturer text, lowercased"),
    ("set_power_state_reboot", "*"): (
        ["raises InvalidParameterValue", "power on"], [None, "power on"],
        "set_power_state(REBOOT): native-ipmi reboots, ipmitool raises InvalidParameterValue. "
        "Ironic's conductor calls reboot() for REBOOT, so no Ironic user sees the difference"),
    ("sensor_keys", _SIM): (
        _THRESHOLD_KEYS_IPMITOOL,
        ["Entity ID", "Sensor ID", "Sensor Reading", "Sensor Type (Threshold)", "Status"],
        "native-ipmi returns the keys Ironic's consumers read (Ceilometer, "
        "ironic-prometheus-exporter), not ipmitool's thresholds and hysteresis"),
}


class _NoThrottle(dict):
    """Ironic's per-address command throttle (``ipmitool.LAST_CMD_TIME``) that forgets.

    With it, every ipmitool call to a BMC waits ``min_command_interval`` (at
    least 1 s: 0 divides by zero) after the last: a test of ~100 calls per
    BMC would take minutes. The throttle protects slow BMCs, it is not under test.
    """

    def __setitem__(self, key: str, value: float) -> None:
        pass


def _outcome(call: Callable[[], Any]) -> Any:
    """The value ``call`` returns, or ``"raises <ExceptionClass>"``."""
    try:
        return call()
    except exception.IronicException as e:
        return f"raises {type(e).__name__}"


def _exported(sensor_data: dict, hardware_type: str, notify_driver: str
              ) -> dict[str, list[tuple[tuple, float]]]:
    """{metric name: [(label items, value)]} the exporter writes for one node's sensor data
    (tests/exporter_run.py, in a process of its own)."""
    res = subprocess.run([sys.executable, "-m", "tests.exporter_run", notify_driver, hardware_type],
                         input=json.dumps(sensor_data), capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stderr
    return {name: [(tuple(tuple(item) for item in labels), value) for labels, value in samples]
            for name, samples in json.loads(res.stdout).items()}


class _Parity(NativeIPMITestCase):
    """One BMC per class; the subclasses say which kind."""

    # Ironic's TestCase replaces processutils.execute and subprocess.* with
    # functions that fail the test (ironic/tests/base.py, block_execute): here
    # the ipmitool interfaces must fork the real ipmitool binary.
    block_execute = False

    KIND: ClassVar[str] = ""
    address: ClassVar[str]
    port: ClassVar[int]

    @classmethod
    def setUpClass(cls) -> None:
        if not cls.KIND:
            raise unittest.SkipTest("abstract")
        if IPMITOOL is None:
            raise unittest.SkipTest("needs ipmitool on PATH")
        super().setUpClass()
        cls.address, cls.port = cls.start_bmc()

    @classmethod
    def start_bmc(cls) -> tuple[str, int]:
        raise NotImplementedError

    def free_sessions(self) -> None:
        """Give back the BMC's session slots held by refused logins, if the BMC kind can."""

    def setUp(self) -> None:
        super().setUp()
        # Short ipmitool waits: 1 s per try (-N 1 -R 1), retried within 3 s (a dead
        # BMC holds ipmitool ~2 s; a shorter window kills it and Ironic lets
        # subprocess.TimeoutExpired escape instead of IPMIFailure);
        # power actions checked within 10 s.
        self.config(min_command_interval=1, command_retry_timeout=3, group="ipmi")
        self.patch(ipmitool, "LAST_CMD_TIME", _NoThrottle())
        self.config(power_state_change_timeout=10, soft_power_off_timeout=3, group="conductor")
        self.config(command_timeout=2.0, group="native_ipmi")

    # -- BMC and nodes --------------------------------------------------------------

    def raw(self, *data: int) -> str:
        """One request through ``ipmitool raw`` (the test's own, not a driver's): the answer in hex."""
        res = subprocess.run(
            [IPMITOOL, "-I", "lanplus", "-C", "3", "-H", self.address, "-p", str(self.port),
             "-U", USER, "-P", PASSWORD, "raw", *(f"0x{b:02x}" for b in data)],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(0, res.returncode, res.stderr)
        return "".join(res.stdout.split())

    def reset_bmc(self) -> None:
        """Host off, no boot override, the 60 s boot flag timeout back on."""
        self.raw(0x00, 0x02, 0x00)
        self.raw(0x00, 0x08, 0x05, 0, 0, 0, 0, 0)
        self.raw(0x00, 0x08, 0x03, 0x00)

    def boot_flags(self) -> str:
        """Get System Boot Options parameter 5 as the BMC answers it: 5 data bytes in hex."""
        return self.raw(0x00, 0x09, 0x05, 0x00, 0x00)[4:]

    def node(self, driver: str, **info: Any) -> Any:
        driver_info = {"ipmi_address": self.address, "ipmi_port": self.port,
                       "ipmi_username": USER, "ipmi_password": PASSWORD, "ipmi_cipher_suite": "3"}
        driver_info.update(info)
        return self.create_node(driver_info={k: v for k, v in driver_info.items() if v is not None},
                                power_interface=driver, management_interface=driver)

    def each_driver(self, scenario: Callable[[Any], Any], reset: bool = True,
                    **node_kw: Any) -> dict[str, Any]:
        """``scenario(node)`` once per driver, each on a freshly reset BMC: {driver: result}."""
        results = {}
        for driver in DRIVERS:
            if reset:
                self.reset_bmc()
            results[driver] = scenario(self.node(driver, **node_kw))
        return results

    def assert_parity(self, name: str, results: dict[str, Any]) -> None:
        """Same answer from both drivers, or exactly the difference DIFFERENCES names."""
        got = (results["ipmitool"], results["native-ipmi"])
        diff = DIFFERENCES.get((name, self.KIND)) or DIFFERENCES.get((name, "*"))
        if diff is None:
            self.assertEqual(got[0], got[1], f"{name} on {self.KIND}: ipmitool vs native-ipmi")
        else:
            self.assertEqual(diff[:2], got, f"{name} on {self.KIND}: expected difference ({diff[2]})")

    def acquire(self, node: Any, shared: bool = False) -> Any:
        return task_manager.acquire(self.context, node.uuid, shared=shared)

    # -- power ----------------------------------------------------------------------

    def test_power_sequence(self):
        def scenario(node):
            seen = []
            with self.acquire(node) as task:
                power = task.driver.power
                seen.append(power.get_power_state(task))
                for target in (states.POWER_ON, states.POWER_OFF, states.POWER_ON,
                               states.SOFT_POWER_OFF):
                    seen.append(_outcome(lambda t=target: power.set_power_state(task, t)))
                    seen.append(power.get_power_state(task))
                seen.append(_outcome(lambda: power.reboot(task)))
                seen.append(power.get_power_state(task))
            return seen

        self.assert_parity("power_sequence", self.each_driver(scenario))

    def test_set_power_state_reboot(self):
        def scenario(node):
            self.raw(0x00, 0x02, 0x01)  # host on
            with self.acquire(node) as task:
                return [_outcome(lambda: task.driver.power.set_power_state(task, states.REBOOT)),
                        task.driver.power.get_power_state(task)]

        self.assert_parity("set_power_state_reboot", self.each_driver(scenario))

    def test_supported_power_states(self):
        def scenario(node):
            with self.acquire(node, shared=True) as task:
                return sorted(task.driver.power.get_supported_power_states(task))

        self.assert_parity("supported_power_states", self.each_driver(scenario, reset=False))

    def test_unsupported_power_state(self):
        def scenario(node):
            with self.acquire(node) as task:
                return _outcome(lambda: task.driver.power.set_power_state(task, "lunch"))

        self.assert_parity("unsupported_power_state", self.each_driver(scenario, reset=False))

    # -- boot device ----------------------------------------------------------------

    def test_set_and_get_boot_device(self):
        cases = [(device, persistent, mode) for mode in ("uefi", "bios")
                 for device in (boot_devices.PXE, boot_devices.DISK, boot_devices.CDROM,
                                boot_devices.BIOS, boot_devices.SAFE)
                 for persistent in (False, True)]

        def scenario(node):
            seen = []
            with self.acquire(node) as task:
                for device, persistent, mode in cases:
                    task.node.instance_info = {"capabilities": {"boot_mode": mode}}
                    seen.append((device, persistent, mode, _outcome(
                        lambda d=device, p=persistent: task.driver.management.set_boot_device(
                            task, d, persistent=p)), self.boot_flags(),
                                 task.driver.management.get_boot_device(task)))
            return seen

        results = self.each_driver(scenario)
        for i, (device, persistent, mode) in enumerate(cases):
            self.assert_parity(f"set_and_get_boot_device {device} persistent={persistent} {mode}",
                               {driver: seen[i][3:] for driver, seen in results.items()})

    def test_boot_device_after_the_host_booted(self):
        def scenario(node):
            with self.acquire(node) as task:
                task.driver.management.set_boot_device(task, boot_devices.PXE)
                task.driver.power.set_power_state(task, states.POWER_ON)
                return self.boot_flags(), task.driver.management.get_boot_device(task)

        self.assert_parity("boot_device_after_boot", self.each_driver(scenario))

    def test_no_boot_override(self):
        def scenario(node):
            with self.acquire(node, shared=True) as task:
                return task.driver.management.get_boot_device(task)

        self.assert_parity("no_boot_override", self.each_driver(scenario))

    def test_invalid_boot_device(self):
        def scenario(node):
            with self.acquire(node) as task:
                return (_outcome(lambda: task.driver.management.set_boot_device(task, "floppy")),
                        self.boot_flags())

        self.assert_parity("invalid_boot_device", self.each_driver(scenario))

    def test_supported_boot_devices(self):
        def scenario(node):
            with self.acquire(node, shared=True) as task:
                return sorted(task.driver.management.get_supported_boot_devices(task))

        self.assert_parity("supported_boot_devices", self.each_driver(scenario, reset=False))

    # -- the rest of management -----------------------------------------------------

    def test_sensors_data(self):
        def scenario(node):
            self.raw(0x00, 0x02, 0x01)  # host on: every sensor has a reading
            with self.acquire(node, shared=True) as task:
                return _outcome(lambda: task.driver.management.get_sensors_data(task))

        results = self.each_driver(scenario)
        if any(isinstance(data, str) for data in results.values()):
            self.assert_parity("sensors_data", results)
            return
        # What consumers parse (Ceilometer, ironic-prometheus-exporter): per type,
        # each threshold sensor's type (first word), a number first and the unit last.
        self.assert_parity("sensors_data", {
            driver: {kind: {sid: (sensor["Sensor Type (Threshold)"].split()[0],
                                  float(sensor["Sensor Reading"].split()[0]) >= 0,
                                  sensor["Sensor Reading"].split()[-1])
                            for sid, sensor in sensors.items() if "Sensor Type (Threshold)" in sensor}
                     for kind, sensors in data.items()
                     if any("Sensor Type (Threshold)" in sensor for sensor in sensors.values())}
            for driver, data in results.items()})
        self.assert_parity("discrete_sensors", {
            driver: sorted(sid for sensors in data.values() for sid, sensor in sensors.items()
                           if "Sensor Type (Threshold)" not in sensor)
            for driver, data in results.items()})
        self.assert_parity("sensor_keys", {
            driver: sorted({key for sensors in data.values() for sensor in sensors.values()
                            if "Sensor Type (Threshold)" in sensor for key in sensor})
            for driver, data in results.items()})

    def test_exporter_metrics(self):
        """The sensor data as ironic-prometheus-exporter turns it into Prometheus metrics.

        Each driver's data goes out as Ironic's sensor notification would
        (``hardware.<node's driver>.metrics``) through an oslo.messaging Notifier with
        the exporter's file driver: the stock one for the ipmitool node (hardware type
        ``ipmi``), ours for the native-ipmi node. Same metric names, label names and
        values are required.
        """
        def scenario(node):
            self.raw(0x00, 0x02, 0x01)  # host on: every sensor has a reading
            with self.acquire(node, shared=True) as task:
                return _outcome(lambda: task.driver.management.get_sensors_data(task))

        data = self.each_driver(scenario)
        if any(isinstance(d, str) for d in data.values()):  # no sensors (ipmi_sim): no metrics
            self.assert_parity("sensors_data", data)
            return
        exported = {
            "ipmitool": _exported(data["ipmitool"], "ipmi", "prometheus_exporter"),
            "native-ipmi": _exported(data["native-ipmi"], "native-ipmi",
                                     "ironic_scale_prometheus_exporter"),
        }
        self.assertTrue(exported["native-ipmi"], "the exporter made no sensor metric")
        self.assert_parity("exporter_metric_names", {d: sorted(m) for d, m in exported.items()})
        # entity_id is "<id>.<instance> (<entity name>)"; the names come from ipmitool's
        # table and pyghmi's, which word some entities differently ('Fan Device' against
        # 'Fan/cooling device'): the id and instance must be the same.
        self.assert_parity("exporter_labels", {
            d: {name: sorted(tuple((k, v.split(" ", 1)[0] if k == "entity_id" else v)
                                   for k, v in labels) for labels, _ in samples)
                for name, samples in m.items()} for d, m in exported.items()})
        self.assert_parity("exporter_values", {
            d: {name: sorted((dict(labels)["sensor_id"], value) for labels, value in samples)
                for name, samples in m.items()} for d, m in exported.items()})

    def test_inject_nmi(self):
        def scenario(node):
            seen = []
            with self.acquire(node) as task:
                for power in (0x00, 0x01):  # host off, then on
                    self.raw(0x00, 0x02, power)
                    seen.append(_outcome(lambda: task.driver.management.inject_nmi(task)))
            return seen

        self.assert_parity("inject_nmi", self.each_driver(scenario))

    def test_detect_vendor(self):
        def scenario(node):
            with self.acquire(node, shared=True) as task:
                return _outcome(lambda: task.driver.management.detect_vendor(task))

        self.assert_parity("detect_vendor", self.each_driver(scenario, reset=False))

    # -- failures -------------------------------------------------------------------

    def _failures(self, every_call: bool = True, **info: Any) -> dict[str, Any]:
        """The outcomes of power and boot device calls, read and write (or just one of each)."""
        def scenario(node):
            with self.acquire(node) as task:
                calls = [lambda: task.driver.power.get_power_state(task),
                         lambda: task.driver.management.set_boot_device(task, boot_devices.PXE)]
                if every_call:
                    calls += [lambda: task.driver.power.set_power_state(task, states.POWER_ON),
                              lambda: task.driver.management.get_boot_device(task)]
                return [_outcome(call) for call in calls]

        return self.each_driver(scenario, reset=False, **info)

    def test_wrong_password(self):
        # Every refused login leaves a half-open session on the BMC until its
        # timeout (the BMC cannot know the console gave up after RAKP 2), so the
        # meaning is checked first, while the BMC still has free slots. It is
        # only in native-ipmi's message: Ironic's ipmitool interface says "IPMI
        # call failed: power status." whatever the cause.
        self.addCleanup(self.free_sessions)
        node = self.node("native-ipmi", ipmi_password="not-the-password")
        with self.acquire(node, shared=True) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.power.get_power_state, task)
        self.assertIn("password", str(e))
        self.assertNotIn("not-the-password", str(e))
        self.assert_parity("wrong_password", self._failures(ipmi_password="not-the-password"))

    def test_dead_bmc(self):
        if self.KIND != _SIM:
            self.skipTest("no BMC answers at all: the same for every kind, run once")
        # Two calls only: each costs ipmitool's whole retry window (~4 s).
        self.assert_parity("dead_bmc", self._failures(every_call=False, ipmi_address=DEAD_ADDRESS))
        node = self.node("native-ipmi", ipmi_address=DEAD_ADDRESS)
        with self.acquire(node, shared=True) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.power.get_power_state, task)
        self.assertIn(DEAD_ADDRESS, str(e))

    def test_validate_bad_driver_info(self):
        bad = {"no address": {"ipmi_address": None},
               "port not a number": {"ipmi_port": "six-two-three"},
               "unknown privilege": {"ipmi_priv_level": "GOD"},
               "unknown protocol version": {"ipmi_protocol_version": "3.0"},
               "bridging without addresses": {"ipmi_bridging": "single"}}

        def scenario(node):
            with self.acquire(node, shared=True) as task:
                return {name: _outcome(lambda i=iface: i.validate(task))
                        for name, iface in (("power", task.driver.power),
                                            ("management", task.driver.management))}

        for case, info in bad.items():
            with self.subTest(case=case):
                self.assert_parity(f"validate {case}", self.each_driver(scenario, reset=False, **info))


class IpmiSimParity(_Parity):
    """OpenIPMI's ipmi_sim, configured as in tests/ipmi_sim.py."""

    KIND = "ipmi_sim"

    @classmethod
    def start_bmc(cls) -> tuple[str, int]:
        if IPMI_SIM is None:
            raise unittest.SkipTest("needs OpenIPMI's ipmi_sim (Debian package openipmi)")
        address = f"127.130.{random.randint(0, 250)}.1"
        stack = contextlib.ExitStack()
        cls.addClassCleanup(stack.close)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parity-ipmi-sim-")))
        problem = stack.enter_context(running_ipmi_sim(work, address, 623, USER, PASSWORD))
        if problem is not None:
            raise unittest.SkipTest(problem)
        return address, 623


class OurSimParity(_Parity):
    """The project's simulator (``ironic-scale sim run``), one BMC."""

    KIND = "ironic-scale sim"

    @classmethod
    def start_bmc(cls) -> tuple[str, int]:
        fleet = start_fleet(1, ("--address", f"127.131.{random.randint(0, 250)}.1",
                                "--username", USER, "--password", PASSWORD))
        cls.addClassCleanup(fleet.stop)
        [bmc] = fleet.endpoints
        cls.fleet, cls.key = fleet, bmc.key
        return bmc.address, bmc.port

    def free_sessions(self) -> None:
        self.fleet.control.reboot([self.key])  # a BMC reboot ends every session


del _Parity  # not a test of its own: pytest would collect it (and skip every test)
