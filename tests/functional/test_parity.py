"""Parity: Ironic's ``ipmitool`` power/management interfaces and ``native-ipmi`` on one BMC.

Each test calls the same method through both drivers, as Ironic runs them
(Ironic's DB test case, ``task_manager.acquire``; the real ``ipmitool`` binary
forked by Ironic's ``_exec_ipmitool``), against the same BMC, and asserts the
same answer or the same exception type. Run against two BMC kinds: OpenIPMI's
``ipmi_sim`` (``IpmiSimParity``) and the project's simulator (``OurSimParity``).
Intended differences are in ``DIFFERENCES`` and each is asserted as exactly
that difference.
"""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

import contextlib
import random
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ironic.common import boot_devices, exception, states
from ironic.conductor import task_manager

from ironic_scale.sim.inventory import Endpoint
from tests import ipmi_sim
from tests.unit.drivers import NativeIPMITestCase

pytestmark = pytest.mark.skipif(
    ipmi_sim.IPMI_SIM is None or ipmi_sim.IPMITOOL is None,
    reason="needs OpenIPMI's ipmi_sim (Debian package openipmi) and ipmitool on PATH")

DRIVERS = ("ipmitool", "native-ipmi")
USER, PASSWORD = "admin", "password"

# Where the two drivers answer differently on purpose: (BMC kind, case) -> reason.
DIFFERENCES = {
    ("ours", "boot device after a consumed UEFI one-time flag"):
        "the BMC cleared the valid bit (IPMI v2.0 table 28-14) and kept the selector: ipmitool "
        "reports the stale device, native-ipmi reports no override",
    ("ours", "sensors without a reading, discrete sensors"):
        "ipmitool lists them with 'Sensor Reading': 'No Reading', and discrete sensors with "
        "their raw state bits ('0h'); native-ipmi leaves both out, "
        "and gives fewer keys per sensor (no thresholds), plain readings ('24 degrees C' not "
        "'24 (+/- 0) degrees C') and type/entity names without the raw numbers",
    ("both", "vendor of an IANA number ipmitool does not name"):
        "ipmitool returns its printed 'Manufacturer Name' lowercased ('unknown', 'dell inc.'); "
        "native-ipmi returns the short name Ironic compares ('dell', 'supermicro') or 'iana-<n>', "
        "so nodes of different unknown makers are not lumped together as 'unknown'",
    ("ipmi_sim", "sensors of a BMC without SDRs"):
        "ipmitool prints nothing and Ironic raises FailedToParseSensorData; native-ipmi cannot "
        "read the SDR repository and raises FailedToGetSensorData (both are caught by Ironic's "
        "sensor data loop)",
}


def outcome(call) -> tuple[str, Any]:
    """('ok', value) or ('error', exception class name): what a caller of the driver sees."""
    try:
        return "ok", call()
    except exception.IronicException as e:
        return "error", type(e).__name__


class _Parity:
    """The tests, run for each BMC kind by the subclasses below."""

    KIND: ClassVar[str]
    block_execute = False  # Ironic's TestCase forbids processes; these tests fork real ipmitool

    def setUp(self) -> None:
        super().setUp()
        # Short ipmitool retries: a dead BMC fails in seconds, not Ironic's 60 s default.
        self.config(command_retry_timeout=3, min_command_interval=1, group="ipmi")
        self.config(command_timeout=3.0, group="native_ipmi")

    # -- helpers ------------------------------------------------------------------

    def target(self) -> Endpoint:
        raise NotImplementedError

    def nodes(self, bmc: Endpoint | None = None, properties: dict | None = None,
              **info: Any) -> dict[str, Any]:
        bmc = bmc or self.target()
        driver_info = self.driver_info(bmc, ipmi_cipher_suite=3, **info)
        return {d: self.create_node(driver_info=driver_info, power_interface=d,
                                    management_interface=d, properties=properties or {})
                for d in DRIVERS}

    def each(self, nodes, method: str, *args: Any, iface: str = "management", shared: bool = False,
             **kw: Any) -> dict[str, tuple[str, Any]]:
        out = {}
        for driver, node in nodes.items():
            with task_manager.acquire(self.context, node.uuid, shared=shared) as task:
                fn = getattr(getattr(task.driver, iface), method)
                out[driver] = outcome(lambda: fn(task, *args, **kw))  # noqa: B023
        return out

    def assert_same(self, results: dict[str, tuple[str, Any]]) -> tuple[str, Any]:
        self.assertEqual(results["ipmitool"], results["native-ipmi"], results)
        return results["ipmitool"]

    def set_with(self, nodes, driver: str, method: str, *args: Any, iface: str = "management",
                 **kw: Any) -> None:
        res = self.each({driver: nodes[driver]}, method, *args, iface=iface, **kw)
        self.assertEqual("ok", res[driver][0], res)

    # -- power --------------------------------------------------------------------

    def test_power_on_off_reboot(self):
        nodes = self.nodes()
        for setter in DRIVERS:
            for method, args, expected in (("set_power_state", (states.POWER_ON,), states.POWER_ON),
                                           ("set_power_state", (states.POWER_OFF,), states.POWER_OFF),
                                           ("reboot", (), states.POWER_ON)):
                self.set_with(nodes, setter, method, *args, iface="power")
                self.assertEqual(("ok", expected), self.assert_same(
                    self.each(nodes, "get_power_state", iface="power", shared=True)))

    def test_supported_lists(self):
        nodes = self.nodes()
        for method, iface in (("get_supported_power_states", "power"),
                              ("get_supported_boot_devices", "management")):
            res = self.each(nodes, method, iface=iface, shared=True)
            self.assertEqual(res["ipmitool"][0], "ok")
            self.assertEqual(sorted(res["ipmitool"][1]), sorted(res["native-ipmi"][1]), method)

    # -- boot device -------------------------------------------------------------

    def test_boot_device_one_time_and_persistent(self):
        nodes = self.nodes()
        for setter in DRIVERS:
            for device, persistent in ((boot_devices.PXE, False), (boot_devices.DISK, True),
                                       (boot_devices.CDROM, False), (boot_devices.BIOS, True)):
                self.set_with(nodes, setter, "set_boot_device", device, persistent=persistent)
                got = self.assert_same(self.each(nodes, "get_boot_device", shared=True))
                self.assertEqual("ok", got[0])
                self.assertEqual(device, got[1]["boot_device"], (setter, device, persistent))

    def test_legacy_bios_boot_device(self):
        nodes = self.nodes(properties={"capabilities": "boot_mode:bios"})
        for setter in DRIVERS:
            self.set_with(nodes, setter, "set_boot_device", boot_devices.PXE, persistent=True)
            got = self.assert_same(self.each(nodes, "get_boot_device", shared=True))
            self.assertEqual(("ok", boot_devices.PXE), (got[0], got[1]["boot_device"]))

    def test_soft_power_off(self):
        nodes = self.nodes()
        self.set_with(nodes, "ipmitool", "set_power_state", states.POWER_ON, iface="power")
        res = self.each({"ipmitool": nodes["ipmitool"]}, "set_power_state", states.SOFT_POWER_OFF,
                        iface="power", timeout=5)
        res.update(self.each({"native-ipmi": nodes["native-ipmi"]}, "set_power_state",
                             states.POWER_ON, iface="power"))
        res["native-ipmi"] = self.each({"native-ipmi": nodes["native-ipmi"]}, "set_power_state",
                                       states.SOFT_POWER_OFF, iface="power", timeout=5)["native-ipmi"]
        # ipmi_sim's chassis-control script ignores "soft": the host never goes off.
        expected = ("ok", None) if self.KIND == "ours" else ("error", "PowerStateFailure")
        self.assertEqual(expected, self.assert_same(res))

    def test_inject_nmi_powered_off(self):
        nodes = self.nodes()
        self.set_with(nodes, "ipmitool", "set_power_state", states.POWER_OFF, iface="power")
        # Refused with a completion code (ours: D5h, not in the present state).
        self.assertEqual(("error", "IPMIFailure"), self.assert_same(self.each(nodes, "inject_nmi")))

    def test_invalid_boot_device(self):
        self.assertEqual(("error", "InvalidParameterValue"),
                         self.assert_same(self.each(self.nodes(), "set_boot_device", "floppy")))

    # -- errors ----------------------------------------------------------------------

    def test_wrong_password(self):
        nodes = self.nodes(ipmi_password="wrong")
        for method, iface in (("get_power_state", "power"), ("get_boot_device", "management")):
            self.assertEqual(("error", "IPMIFailure"),
                             self.assert_same(self.each(nodes, method, iface=iface, shared=True)))

    def test_dead_bmc(self):
        nodes = self.nodes(Endpoint_dead())
        self.assertEqual(("error", "IPMIFailure"), self.assert_same(
            self.each(nodes, "get_power_state", iface="power", shared=True)))

    def test_validate_bad_driver_info(self):
        nodes = self.nodes()
        for node in nodes.values():
            node.driver_info = {"ipmi_address": "127.220.0.1", "ipmi_port": "not-a-port"}
            node.save()
        for iface in ("power", "management"):
            self.assertEqual(("error", "InvalidParameterValue"),
                             self.assert_same(self.each(nodes, "validate", iface=iface, shared=True)))
        for node in nodes.values():
            node.driver_info = {"ipmi_port": 623}
            node.save()
        self.assertEqual(("error", "MissingParameterValue"),
                         self.assert_same(self.each(nodes, "validate", iface="power", shared=True)))

    def test_inject_nmi_and_vendor(self):
        nodes = self.nodes()
        self.set_with(nodes, "ipmitool", "set_power_state", states.POWER_ON, iface="power")
        # Refused with a completion code (ours: D5h, not in the present state).
        # ipmi_sim's chassis-control script has no "diag": it refuses the NMI.
        expected = ("ok", None) if self.KIND == "ours" else ("error", "IPMIFailure")
        self.assertEqual(expected, self.assert_same(self.each(nodes, "inject_nmi")))
        res = self.each(nodes, "detect_vendor", shared=True)
        # Both BMC kinds report manufacturer 0 (reserved), which ipmitool names "Unknown".
        self.assertIn(("both", "vendor of an IANA number ipmitool does not name"), DIFFERENCES)
        self.assertEqual({"ipmitool": ("ok", "unknown"), "native-ipmi": ("ok", "iana-0")}, res)

    def test_sensors_data_shape(self):
        res = self.each(self.nodes(), "get_sensors_data", shared=True)
        if self.KIND == "ipmi_sim":  # configured without SDRs
            self.assertIn(("ipmi_sim", "sensors of a BMC without SDRs"), DIFFERENCES)
            self.assertEqual({"ipmitool": ("error", "FailedToParseSensorData"),
                              "native-ipmi": ("error", "FailedToGetSensorData")}, res)
            return
        self.assertEqual("ok", res["ipmitool"][0], res)
        self.assertEqual("ok", res["native-ipmi"][0], res)
        tool, ours = res["ipmitool"][1], res["native-ipmi"][1]
        # Same sensors with a reading, under the same type and id, with a subset of the keys.
        with_reading = {(t, sid) for t, ss in tool.items() for sid, s in ss.items()
                        if "Sensor Type (Threshold)" in s and s["Sensor Reading"] != "No Reading"}
        self.assertEqual(with_reading, {(t, sid) for t, ss in ours.items() for sid in ss})
        for sensor_type, sensors in ours.items():
            for sensor_id, sensor in sensors.items():
                self.assertLessEqual(set(sensor), set(tool[sensor_type][sensor_id]))
                self.assertEqual(tool[sensor_type][sensor_id]["Status"], sensor["Status"])
                # The unit, the last word that consumers (Ceilometer) read, agrees.
                self.assertEqual(tool[sensor_type][sensor_id]["Sensor Reading"].split()[-1],
                                 sensor["Sensor Reading"].split()[-1])
        # The sensors ipmitool has in addition are exactly the discrete ones and those
        # without a reading.
        self.assertIn(("ours", "sensors without a reading, discrete sensors"), DIFFERENCES)
        extra = {(t, sid) for t, ss in tool.items() for sid in ss} - with_reading
        self.assertTrue(extra)  # the host is off: fans, voltages and power have no reading
        self.assertFalse({(t, sid) for t, sid in extra if sid in ours.get(t, {})})


def Endpoint_dead() -> Endpoint:  # noqa: N802
    """A loopback address in this suite's range where nothing listens."""
    return Endpoint(address="127.227.0.99", port=623, username=USER, password=PASSWORD)


class OurSimParity(_Parity, NativeIPMITestCase):
    KIND = "ours"
    ADDRESS_PREFIX = "127.222"
    FLEET_SIZE = 16
    FLEET_ARGS = ("--username", USER, "--password", PASSWORD)

    def target(self) -> Endpoint:
        return self.bmc()

    def test_consumed_uefi_one_time_flag(self):
        bmc = self.bmc()
        nodes = self.nodes(bmc)
        self.set_with(nodes, "native-ipmi", "set_boot_device", boot_devices.PXE)
        self.set_with(nodes, "native-ipmi", "set_power_state", states.POWER_ON, iface="power")
        res = self.each(nodes, "get_boot_device", shared=True)
        self.assertIn(("ours", "boot device after a consumed UEFI one-time flag"), DIFFERENCES)
        self.assertEqual(("ok", {"boot_device": boot_devices.PXE, "persistent": False}),
                         res["ipmitool"])
        self.assertEqual(("ok", {"boot_device": None, "persistent": None}), res["native-ipmi"])


class IpmiSimParity(_Parity, NativeIPMITestCase):
    KIND = "ipmi_sim"
    ADDRESS = "127.221.%d.1"
    _stack: ClassVar[contextlib.ExitStack]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._stack = contextlib.ExitStack()
        cls.addClassCleanup(cls._stack.close)
        work = Path(cls._stack.enter_context(tempfile.TemporaryDirectory(prefix="parity-ipmi_sim-")))
        cls.address = cls.ADDRESS % random.randint(0, 250)
        problem = cls._stack.enter_context(ipmi_sim.running(work, cls.address, 623, USER, PASSWORD))
        if problem is not None:
            raise pytest.skip.Exception(problem)

    def target(self) -> Endpoint:
        return Endpoint(address=self.address, port=623, username=USER, password=PASSWORD)
