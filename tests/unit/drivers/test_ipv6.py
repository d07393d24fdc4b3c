"""Nodes whose ipmi_address is IPv6: accepted as Ironic's ipmitool driver accepts it, driven over ::1."""

from ironic.common import boot_devices, exception, states
from ironic.conductor import task_manager

from tests.fleets import start_on_ipv6_loopback
from tests.unit.drivers import NativeIPMITestCase


class IPv6NodeTestCase(NativeIPMITestCase):
    FLEET_SIZE = 6

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()  # no ADDRESS_PREFIX: no IPv4 fleet
        cls.fleet = start_on_ipv6_loopback(cls.FLEET_SIZE)
        cls.addClassCleanup(cls.fleet.stop)
        cls._unused = list(cls.fleet.endpoints)

    def test_power_and_boot_device_over_ipv6(self):
        bmc = self.bmc()
        node = self.create_node(bmc)
        self.assertEqual("::1", node.driver_info["ipmi_address"])
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.validate(task)
            task.driver.management.validate(task)
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
            task.driver.power.set_power_state(task, states.POWER_ON)
            task.driver.management.set_boot_device(task, boot_devices.PXE)
            self.assertEqual(boot_devices.PXE, task.driver.management.get_boot_device(task)["boot_device"])
        self.assertEqual("on", self.bmc_state(bmc)["power"])

    def test_other_spellings_reach_the_same_bmc(self):
        bmc = self.bmc()
        self.fleet.control.power([bmc.key], "on")
        for spelling in ("0:0::1", "0000:0000:0000:0000:0000:0000:0000:0001"):
            node = self.create_node(driver_info=self.driver_info(bmc, ipmi_address=spelling))
            with task_manager.acquire(self.context, node.uuid, shared=True) as task:
                self.assertEqual(states.POWER_ON, task.driver.power.get_power_state(task))

    def test_addresses_ironic_refuses_are_refused(self):
        # Ironic's ipmitool driver (ipmitool._validate_ipmi_address): an IP address or a
        # host name; a bracketed address is neither, to Ironic and to ipmitool -H.
        for bad in ("[::1]", "::1]", "::1%", "1::2::3"):
            node = self.create_node(driver_info=self.driver_info(self.bmc_placeholder(), ipmi_address=bad))
            with task_manager.acquire(self.context, node.uuid, shared=True) as task:
                e = self.assertRaises(exception.InvalidParameterValue, task.driver.power.validate, task)
                self.assertIn("Invalid IPMI address", str(e))

    def test_unreachable_ipv6_bmc_fails_with_ipmi_failure(self):
        self.config(command_timeout=1.0, group="native_ipmi")
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], dead=True)
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.power.get_power_state, task)
        self.assertIn(f"no answer from the BMC at ::1:{bmc.port}", str(e))

    def bmc_placeholder(self):
        return self.fleet.endpoints[0]  # only its port and credentials are used
