"""The native-ipmi vendor interface over real UDP: a power read that changes nothing, and
ipmitool's send_raw and bmc_reset without ipmitool."""

import logging

import fixtures
from ironic.common import exception, states
from ironic.conductor import task_manager
from ironic.drivers.modules import ipmitool

from ironic_scale.drivers import vendor
from ironic_scale.drivers.vendor import NativeIPMIVendorPassthru
from ironic_scale.ipmi import engine as engine_module
from tests.unit.drivers import NativeIPMITestCase
from tests.unit.drivers.test_no_subprocess import SPAWNERS


class VendorPowerStateTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.124"

    def setUp(self) -> None:
        super().setUp()
        self.config(enabled_vendor_interfaces=["ipmitool", "native-ipmi", "no-vendor"])

    def test_route_is_a_synchronous_get_under_a_shared_lock(self):
        route = NativeIPMIVendorPassthru().vendor_routes["power_state"]
        self.assertEqual(["GET"], route["http_methods"])
        self.assertFalse(route["async"])
        self.assertFalse(route["require_exclusive_lock"])
        # ipmitool's methods stay, with their names.
        self.assertLessEqual({"send_raw", "bmc_reset"}, set(NativeIPMIVendorPassthru().vendor_routes))

    def test_reads_from_the_bmc_and_sends_no_control(self):
        # Through the ipmitool power interface it runs ipmitool, which Ironic's test base
        # forbids: tests/integration/test_fleet_migrate.py reads through it on a real Ironic.
        bmc = self.bmc()
        self.fleet.control.power([bmc.key], "on")
        node = self.create_node(bmc, vendor_interface="native-ipmi")
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            task.driver.vendor.validate(task, "power_state")
            self.assertEqual({"power_state": states.POWER_ON}, task.driver.vendor.power_state(task))
        self.fleet.control.power([bmc.key], "off")
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual({"power_state": states.POWER_OFF}, task.driver.vendor.power_state(task))
        state = self.bmc_state(bmc)
        self.assertEqual(([], "off"), (state["power_log"], state["power"]))

    def test_interface_is_checked_against_the_node(self):
        bmc = self.bmc()
        node = self.create_node(bmc, vendor_interface="native-ipmi",
                                driver_info={"ipmi_address": bmc.address})  # no credentials: still valid
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertIsInstance(task.driver.vendor, NativeIPMIVendorPassthru)
            node.driver_info = {}
        node.save()
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertRaises(exception.MissingParameterValue, task.driver.vendor.validate, task,
                              "power_state")
            # ipmitool's methods are validated as Ironic validates them.
            self.assertRaises(exception.MissingParameterValue, task.driver.vendor.validate, task,
                              "send_raw")
        # Not ipmitool's class: its constructor runs the ipmitool binary.
        self.assertFalse(issubclass(NativeIPMIVendorPassthru, ipmitool.VendorPassthru))


class NativePassthruTestCase(NativeIPMITestCase):
    """send_raw and bmc_reset over the engine, against the simulator (127.234/16)."""

    ADDRESS_PREFIX = "127.234"
    FLEET_SIZE = 12
    RETRY = 0.3  # [native_ipmi]retry_interval: how long an unanswered reset is waited for

    def setUp(self) -> None:
        super().setUp()
        self.config(enabled_vendor_interfaces=["ipmitool", "native-ipmi", "no-vendor"])
        # An engine made from this configuration (the process-wide one may predate it).
        self.config(retry_interval=self.RETRY, group="native_ipmi")
        self.patch(engine_module, "_ENGINE", None)
        self.addCleanup(lambda: engine_module._ENGINE and engine_module._ENGINE.shutdown())

    def node(self, bmc):
        return self.create_node(bmc, vendor_interface="native-ipmi")

    def counters(self) -> dict:
        return self.fleet.control.counters()

    def test_routes_and_steps_are_ironics(self):
        ours, theirs = NativeIPMIVendorPassthru(), ipmitool.VendorPassthru()
        for name in ("send_raw", "bmc_reset"):
            mine, ironic = ours.vendor_routes[name], theirs.vendor_routes[name]
            for key in ("http_methods", "async", "require_exclusive_lock", "attach", "description"):
                self.assertEqual(ironic[key], mine[key], f"{name} {key}")
            marks = {k: v for k, v in vars(getattr(theirs, name)).items() if "step" in k}
            self.assertEqual(marks, {k: v for k, v in vars(getattr(ours, name)).items() if "step" in k})
        self.assertTrue(vars(ours.send_raw)["_is_clean_step"])
        self.assertEqual(ipmitool.COMMON_PROPERTIES, ours.get_properties())

    def test_send_raw_sends_the_request_and_returns_as_ironic(self):
        bmc = self.bmc()
        node = self.node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.vendor.validate(task, "send_raw", raw_bytes="0x00 0x02 0x01")
            # Ironic's passthru returns nothing (its module function returns ipmitool's output).
            self.assertIsNone(task.driver.vendor.send_raw(task, raw_bytes="0x00 0x02 0x01"))
            self.assertEqual("on", self.bmc_state(bmc)["power"])
            out = vendor.send_raw(task, "Application 0x01")
        # ipmitool's format: " xx" per byte, a newline (tests/functional/test_ipmi_raw.py
        # compares it with the real ipmitool's output).
        self.assertEqual((" 20 01 01 23 02 83 00 00 00 01 00 00 00 00 00\n", ""), out)

    def test_bad_raw_bytes_are_refused_and_nothing_is_sent(self):
        bmc = self.bmc()
        node = self.node(bmc)
        before = self.counters()
        with task_manager.acquire(self.context, node.uuid) as task:
            v = task.driver.vendor
            for bad, reason in (("0x00 0x02 0x01 ", "empty data byte 2"),
                                ("0x00  0x02", "empty command"),
                                ("0x00 0x02 0x100", "data byte 1 '0x100' is more than 255"),
                                ("0x00 0x2g", "command '0x2g' is not a number"),
                                ("chassis", "at least a network function and a command"),
                                ("0x40 0x01", "netfn '0x40' is out of range")):
                e = self.assertRaises(exception.InvalidParameterValue, v.validate, task, "send_raw",
                                      raw_bytes=bad)
                self.assertIn(reason, str(e))
                # Called directly (a clean, deploy or service step): Ironic's error for a raw
                # command ipmitool refuses.
                e = self.assertRaises(exception.IPMIFailure, v.send_raw, task, raw_bytes=bad)
                self.assertIn(reason, str(e))
            e = self.assertRaises(exception.MissingParameterValue, v.validate, task, "send_raw")
            self.assertIn("Parameter raw_bytes (string of bytes) was not specified", str(e))
            e = self.assertRaises(exception.MissingParameterValue, v.send_raw, task, raw_bytes="")
            self.assertIn("Argument raw_bytes is missing", str(e))
        self.assertEqual("off", self.bmc_state(bmc)["power"])
        self.assertEqual(before.get("req.chassis_control", 0), self.counters().get("req.chassis_control", 0))

    def test_refused_command_names_the_completion_code(self):
        node = self.node(self.bmc())
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.vendor.send_raw, task,
                                  raw_bytes="0x06 0x99")
        self.assertIn("IPMI call failed: raw 0x06 0x99", str(e))
        self.assertIn("completion code 0xC1 (Invalid command)", str(e))

    def test_warm_reset(self):
        bmc = self.bmc()
        node = self.node(bmc)
        before = self.counters()
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.vendor.validate(task, "bmc_reset", warm="true")
            self.assertIsNone(task.driver.vendor.bmc_reset(task, "POST", warm=True))
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
        after = self.counters()
        self.assertEqual(1, after.get("req.warm_reset", 0) - before.get("req.warm_reset", 0))
        self.assertEqual(before.get("bmc.reboots", 0), after.get("bmc.reboots", 0))

    def test_cold_reset_answered(self):
        bmc = self.bmc()
        node = self.node(bmc)
        before = self.counters()
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.vendor.bmc_reset(task, "POST", warm="false")
            # The BMC is back after its downtime; the next command logs in afresh.
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
        after = self.counters()
        self.assertEqual(1, after["req.cold_reset"] - before.get("req.cold_reset", 0))
        self.assertEqual(1, after["bmc.reboots"] - before.get("bmc.reboots", 0))

    def test_cold_reset_a_bmc_does_not_answer_is_sent_once(self):
        # The BMC resets without answering and is back at once, with no session: an engine
        # that retransmitted (or logged in again and resent) would reset it again.
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], silent_cold_reset=True, reset_downtime=0)
        node = self.node(bmc)
        before = self.counters()
        logs = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        # The DB fixture's alembic logging.config disables loggers that existed before it.
        self.patch(logging.getLogger("ironic_scale.drivers.vendor"), "disabled", False)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.vendor.bmc_reset(task, "POST", warm=False)
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
        self.assertIn("did not answer the cold reset", logs.output)
        after = self.counters()
        self.assertEqual(1, after["req.cold_reset"] - before.get("req.cold_reset", 0))

    def test_warm_must_be_a_boolean(self):
        bmc = self.bmc()
        node = self.node(bmc)
        before = self.counters()
        with task_manager.acquire(self.context, node.uuid) as task:
            for bad in ("flase", "2", ""):
                e = self.assertRaises(exception.InvalidParameterValue, task.driver.vendor.validate,
                                      task, "bmc_reset", warm=bad)
                self.assertIn("Invalid value for 'warm'", str(e))
                self.assertRaises(exception.InvalidParameterValue, task.driver.vendor.bmc_reset,
                                  task, "POST", warm=bad)
        after = self.counters()
        for key in ("req.cold_reset", "req.warm_reset"):
            self.assertEqual(before.get(key, 0), after.get(key, 0))

    def test_no_process_and_no_ipmitool_binary(self):
        # ipmitool's capability checks unknown and no ipmitool on PATH: an interface that
        # needed it would run (and fail) it. Tripwires catch every way to start a process.
        self.config(enabled_vendor_interfaces=["native-ipmi", "no-vendor"],
                    enabled_power_interfaces=["native-ipmi"],
                    enabled_management_interfaces=["native-ipmi"])
        for name in ("TIMING_SUPPORT", "SINGLE_BRIDGE_SUPPORT", "DUAL_BRIDGE_SUPPORT"):
            self.patch(ipmitool, name, None)
        self.useFixture(fixtures.EnvironmentVariable("PATH", "/nonexistent"))
        spawned = []

        def tripwire(*args, **kwargs):
            spawned.append(args)
            raise AssertionError("native-ipmi vendor passthru started a process")

        for owner, name in SPAWNERS:
            self.patch(owner, name, tripwire)
        bmc = self.bmc()
        node = self.node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            v = task.driver.vendor
            v.validate(task, "send_raw", raw_bytes="0x00 0x02 0x01")
            v.send_raw(task, raw_bytes="0x00 0x02 0x01")
            v.validate(task, "bmc_reset", warm=True)
            v.bmc_reset(task, "POST", warm=True)
            v.bmc_reset(task, "POST", warm=False)
        self.assertEqual([], spawned)
        self.assertEqual("on", self.bmc_state(bmc)["power"])
