"""Loading native-ipmi as the conductor does, and switching a node to ipmitool and back."""

import configparser
import os

from ironic.common import driver_factory, exception
from ironic.conductor import task_manager
from ironic.conf import CONF
from ironic.drivers import base as drivers_base
from ironic.drivers.modules import ipmitool, noop

from ironic_scale.drivers.hardware_type import NativeIPMIHardware
from ironic_scale.drivers.management import NativeIPMIManagement
from ironic_scale.drivers.power import NativeIPMIPower
from ironic_scale.drivers.vendor import NativeIPMIVendorPassthru
from tests.unit.drivers import NativeIPMITestCase

SNIPPET = os.path.join(os.path.dirname(__file__), "..", "..", "..", "deploy", "ironic.conf.d",
                       "native-ipmi.conf")
INFO = {"ipmi_address": "127.49.250.251", "ipmi_username": "admin", "ipmi_password": "pw"}


class HardwareTypeTestCase(NativeIPMITestCase):
    def test_loaded_by_name(self):
        hw = driver_factory.get_hardware_type("native-ipmi")
        self.assertIsInstance(hw, NativeIPMIHardware)
        self.assertEqual([NativeIPMIPower, ipmitool.IPMIPower], hw.supported_power_interfaces)
        self.assertEqual([NativeIPMIManagement, ipmitool.IPMIManagement],
                         hw.supported_management_interfaces)
        self.assertEqual(ipmitool.IPMISocatConsole, hw.supported_console_interfaces[0])
        self.assertIn(noop.NoConsole, hw.supported_console_interfaces)
        self.assertEqual([ipmitool.VendorPassthru, NativeIPMIVendorPassthru, noop.NoVendor],
                         hw.supported_vendor_interfaces)

    def test_defaults_are_native(self):
        node = self.create_node(driver_info=INFO, power_interface=None,
                                management_interface=None)
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertIsInstance(task.driver.power, NativeIPMIPower)
            self.assertIsInstance(task.driver.management, NativeIPMIManagement)
            self.assertEqual("native-ipmi", task.node.power_interface)
            self.assertEqual("native-ipmi", task.node.management_interface)

    def test_switch_to_ipmitool_and_back_with_the_same_driver_info(self):
        node = self.create_node(driver_info=INFO)
        for power, management, power_cls, management_cls in (
                ("ipmitool", "ipmitool", ipmitool.IPMIPower, ipmitool.IPMIManagement),
                ("native-ipmi", "native-ipmi", NativeIPMIPower, NativeIPMIManagement)):
            with task_manager.acquire(self.context, node.uuid) as task:
                task.node.power_interface = power
                task.node.management_interface = management
                driver_factory.check_and_update_node_interfaces(task.node)
                task.node.save()
            with task_manager.acquire(self.context, node.uuid, shared=True) as task:
                self.assertIsInstance(task.driver.power, power_cls)
                self.assertIsInstance(task.driver.management, management_cls)
                self.assertEqual(INFO, task.node.driver_info)

    def test_mixed_native_power_and_ipmitool_management(self):
        node = self.create_node(driver_info=INFO, management_interface="ipmitool")
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertIsInstance(task.driver.power, NativeIPMIPower)
            self.assertIsInstance(task.driver.management, ipmitool.IPMIManagement)

    def test_ipmi_hardware_type_refuses_native_interfaces(self):
        # Why native-ipmi is its own hardware type: compatibility is by exact class.
        self.config(enabled_hardware_types=["ipmi", "native-ipmi"])
        node = self.create_node(driver_info=INFO, driver="ipmi")
        self.assertRaises(exception.IncompatibleInterface, task_manager.acquire, self.context,
                          node.uuid)

    def test_deploy_snippet_gives_every_interface_a_default(self):
        # The conductor refuses to start unless every enabled hardware type has
        # an enabled default for every interface type: check with the snippet's values.
        for iface in drivers_base.ALL_INTERFACES:  # Ironic's defaults, not the test base's
            CONF.clear_override(f"enabled_{iface}_interfaces")
            CONF.clear_override(f"default_{iface}_interface")
        parser = configparser.ConfigParser()
        self.assertEqual([SNIPPET], parser.read(SNIPPET))
        for name, value in parser["DEFAULT"].items():
            if name.startswith("enabled_"):
                self.config(**{name: [v.strip() for v in value.split(",") if v.strip()]})
        self.assertIn("native-ipmi", parser["DEFAULT"]["enabled_hardware_types"])
        for hw_name in ("ipmi", "native-ipmi"):
            hw = driver_factory.get_hardware_type(hw_name)
            for iface in drivers_base.ALL_INTERFACES:
                self.assertIsNotNone(driver_factory.default_interface(hw, iface),
                                     f"{hw_name} has no default {iface} interface")
        hw = driver_factory.get_hardware_type("native-ipmi")
        self.assertEqual("native-ipmi", driver_factory.default_interface(hw, "power"))
        self.assertEqual("native-ipmi", driver_factory.default_interface(hw, "management"))
