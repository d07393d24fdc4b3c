"""The native-ipmi vendor interface: a power read that changes nothing, over real UDP."""

from ironic.common import exception, states
from ironic.conductor import task_manager
from ironic.drivers.modules import ipmitool

from ironic_scale.drivers.vendor import NativeIPMIVendorPassthru
from tests.unit.drivers import NativeIPMITestCase


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
            # ipmitool's own validation still applies to its methods.
            self.assertRaises(exception.MissingParameterValue, task.driver.vendor.validate, task,
                              "send_raw")
        self.assertTrue(issubclass(NativeIPMIVendorPassthru, ipmitool.VendorPassthru))
