"""native-ipmi management interface against simulated BMCs over UDP.

Boot flags are checked as bytes in the simulated BMC (IPMI v2.0 table 28-14:
byte 1 = valid 0x80 | persistent 0x40 | EFI 0x20, byte 2 = device selector << 2).
"""

from ironic.common import boot_devices, exception, states
from ironic.conductor import task_manager
from ironic.conductor import utils as cond_utils

from ironic_scale.drivers import management
from tests.unit.drivers import NativeIPMITestCase

BIOS_MODE = {"capabilities": "boot_mode:bios"}


class BootDeviceTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.42"
    FLEET_SIZE = 40

    def _set(self, node, device, persistent=False):
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.management.set_boot_device(task, device, persistent=persistent)

    def _get(self, node):
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            return task.driver.management.get_boot_device(task)

    def test_supported_boot_devices(self):
        node = self.create_node(self.bmc())
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual({boot_devices.PXE, boot_devices.DISK, boot_devices.CDROM,
                              boot_devices.BIOS, boot_devices.SAFE},
                             set(task.driver.management.get_supported_boot_devices(task)))

    def test_no_override_reads_as_none(self):
        node = self.create_node(self.bmc())
        self.assertEqual({"boot_device": None, "persistent": False}, self._get(node))

    def test_uefi_one_time_pxe(self):
        bmc = self.bmc()
        node = self.create_node(bmc)  # Ironic's default boot mode is UEFI
        self._set(node, boot_devices.PXE)
        state = self.bmc_state(bmc)
        self.assertEqual("a004000000", state["boot_flags"])
        self.assertEqual(8, state["boot_flag_clearing"])  # 60 s timeout disabled first
        self.assertEqual({"boot_device": boot_devices.PXE, "persistent": False}, self._get(node))

    def test_uefi_persistent_disk(self):
        bmc = self.bmc()
        node = self.create_node(bmc)
        self._set(node, boot_devices.DISK, persistent=True)
        self.assertEqual("e008000000", self.bmc_state(bmc)["boot_flags"])
        self.assertEqual({"boot_device": boot_devices.DISK, "persistent": True}, self._get(node))

    def test_legacy_bios_devices(self):
        bmc = self.bmc()
        node = self.create_node(bmc, properties=BIOS_MODE)
        for device, persistent, flags in ((boot_devices.CDROM, False, "8014000000"),
                                          (boot_devices.BIOS, True, "c018000000"),
                                          (boot_devices.SAFE, False, "800c000000")):
            self._set(node, device, persistent)
            self.assertEqual(flags, self.bmc_state(bmc)["boot_flags"])
            self.assertEqual({"boot_device": device, "persistent": persistent}, self._get(node))

    def test_one_time_device_is_used_by_the_next_boot(self):
        bmc = self.bmc()
        node = self.create_node(bmc)
        self._set(node, boot_devices.PXE)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.set_power_state(task, states.POWER_ON)
        self.assertEqual(0x1, self.bmc_state(bmc)["last_boot_device"])  # PXE
        self.assertEqual({"boot_device": None, "persistent": False}, self._get(node))

    def test_boot_timeout_not_disabled_when_driver_info_says_so(self):
        bmc = self.bmc()
        # A BMC that drops unconfirmed one-time flags at once instead of after 60 s.
        self.fleet.control.set([bmc.key], boot_flag_timeout="0s")
        node = self.create_node(driver_info=self.driver_info(bmc, ipmi_disable_boot_timeout="false"))
        self._set(node, boot_devices.PXE)
        self.assertEqual(0, self.bmc_state(bmc)["boot_flag_clearing"])
        self.assertEqual({"boot_device": None, "persistent": False}, self._get(node))

    def test_boot_timeout_disabled_keeps_the_flags(self):
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], boot_flag_timeout="0s")
        node = self.create_node(bmc)
        self._set(node, boot_devices.PXE)
        self.assertEqual(8, self.bmc_state(bmc)["boot_flag_clearing"])
        self.assertEqual({"boot_device": boot_devices.PXE, "persistent": False}, self._get(node))

    def test_boot_timeout_default_comes_from_ipmi_config(self):
        bmc = self.bmc()
        self.config(disable_boot_timeout=False, group="ipmi")
        node = self.create_node(bmc)
        self._set(node, boot_devices.DISK)
        self.assertEqual(0, self.bmc_state(bmc)["boot_flag_clearing"])
        self.assertEqual("a008000000", self.bmc_state(bmc)["boot_flags"])

    def test_spec_bmc_is_not_marked_and_used_flags_read_as_no_override(self):
        # The read-back after the set saw the valid bit: the BMC reports it, so
        # once the host boots (clearing it, selector kept: "2004000000") the
        # node reads no override, where ipmitool would still say pxe.
        bmc = self.bmc()
        node = self.create_node(bmc)
        self._set(node, boot_devices.PXE)
        node.refresh()
        self.assertIs(False, node.driver_internal_info[management.VALID_BIT_UNREPORTED])
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.set_power_state(task, states.POWER_ON)  # the BIOS uses the flags
        self.assertEqual("2004000000", self.bmc_state(bmc)["boot_flags"])
        self.assertEqual({"boot_device": None, "persistent": False}, self._get(node))

    def test_bmc_that_never_reports_the_valid_bit(self):
        # Like OpenIPMI ipmi_sim: byte 1 of the boot flags always reads 0.
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], boot_flags_byte1=False)
        node = self.create_node(bmc)
        self._set(node, boot_devices.PXE, persistent=True)
        node.refresh()
        self.assertIs(True, node.driver_internal_info[management.VALID_BIT_UNREPORTED])
        # The BMC kept the device (it boots from it); the node reports it as
        # ipmitool does, with the persistent bit the BMC shows (none).
        self.assertEqual("e004000000", self.bmc_state(bmc)["boot_flags"])
        self.assertEqual({"boot_device": boot_devices.PXE, "persistent": False}, self._get(node))

    def test_valid_bit_not_learnt_while_the_timeout_may_clear_it(self):
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], boot_flag_timeout="0s")
        node = self.create_node(driver_info=self.driver_info(bmc, ipmi_disable_boot_timeout="false"))
        self._set(node, boot_devices.PXE)
        node.refresh()
        self.assertNotIn(management.VALID_BIT_UNREPORTED, node.driver_internal_info)

    def test_supermicro_uefi_disk_uses_its_own_selector(self):
        bmc = self.bmc()
        node = self.create_node(bmc, properties={"vendor": "supermicro"})
        self._set(node, boot_devices.DISK)
        self.assertEqual("a024000000", self.bmc_state(bmc)["boot_flags"])

    def test_invalid_boot_device(self):
        bmc = self.bmc()
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertRaises(exception.InvalidParameterValue,
                              task.driver.management.set_boot_device, task, "floppy")
        self.assertEqual("0000000000", self.bmc_state(bmc)["boot_flags"])

    def test_set_boot_device_needs_an_exclusive_lock(self):
        node = self.create_node(self.bmc())
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertRaises(exception.ExclusiveLockRequired,
                              task.driver.management.set_boot_device, task, boot_devices.PXE)


class ForceBootDeviceTestCase(NativeIPMITestCase):
    """ipmi_force_boot_device: Ironic remembers the device and re-applies it at every power on."""

    ADDRESS_PREFIX = "127.46"
    FLEET_SIZE = 8

    def _node(self, bmc):
        return self.create_node(driver_info=self.driver_info(bmc, ipmi_force_boot_device="true"))

    def test_persistent_device_is_kept_by_ironic_and_reapplied(self):
        bmc = self.bmc()
        node = self._node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.management.set_boot_device(task, boot_devices.PXE, persistent=True)
            self.assertEqual(boot_devices.PXE,
                             task.node.driver_internal_info["persistent_boot_device"])
            # The BMC only ever gets a one-time flag...
            self.assertEqual("a004000000", self.bmc_state(bmc)["boot_flags"])
            # ...but the node reports the device Ironic keeps, as with ipmitool.
            self.assertEqual({"boot_device": boot_devices.PXE, "persistent": True},
                             task.driver.management.get_boot_device(task))
            for _ in range(2):
                # Each power on re-applies the flag, which that boot then uses
                # up (stock Ironic + ipmitool skips every second power on:
                # see ironic_scale.drivers.power.ensure_next_boot_device).
                task.driver.power.set_power_state(task, states.POWER_ON)
                state = self.bmc_state(bmc)
                self.assertEqual(0x1, state["last_boot_device"])  # PXE
                self.assertEqual("2004000000", state["boot_flags"])  # valid bit used up
                task.driver.power.set_power_state(task, states.POWER_OFF)
        self.assertEqual({"on": 2, "off": 2}, self.bmc_state(bmc)["power_actions"])

    def test_one_time_device_is_not_reapplied(self):
        bmc = self.bmc()
        node = self._node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.management.set_boot_device(task, boot_devices.PXE, persistent=True)
            task.driver.management.set_boot_device(task, boot_devices.CDROM, persistent=False)
            self.assertIs(False, task.node.driver_internal_info["is_next_boot_persistent"])
            self.assertEqual({"boot_device": boot_devices.CDROM, "persistent": False},
                             task.driver.management.get_boot_device(task))
            task.driver.power.set_power_state(task, states.POWER_ON)
            self.assertEqual(0x5, self.bmc_state(bmc)["last_boot_device"])  # CD/DVD
            self.assertNotIn("is_next_boot_persistent", task.node.driver_internal_info)
            task.driver.power.set_power_state(task, states.POWER_OFF)
            task.driver.power.set_power_state(task, states.POWER_ON)
            # Back to the persistent device Ironic keeps.
            self.assertEqual(0x1, self.bmc_state(bmc)["last_boot_device"])


class SensorsNMIVendorTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.47"
    FLEET_SIZE = 12

    def test_sensors_data_in_ironic_format(self):
        bmc = self.bmc()
        self.fleet.control.power([bmc.key], "on")
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            task.driver.management.validate(task)  # what the conductor's sensor task does first
            data = task.driver.management.get_sensors_data(task)
        self.assertEqual({"Temperature", "Fan", "Voltage", "Power"}, set(data))
        temp = data["Temperature"]["CPU Temp (0x1)"]  # ipmitool's sensor id, number included
        self.assertEqual("CPU Temp (0x1)", temp["Sensor ID"])
        self.assertEqual("3.1 (Processor)", temp["Entity ID"])  # ipmitool's id.instance (name)
        # A discrete sensor: its raw reading byte, as ipmitool prints it, and no Status.
        self.assertEqual({"Sensor ID": "PSU1 Status (0x4)", "Entity ID": "10.1 (Power supply)",
                          "Sensor Type (Discrete)": "Power Supply", "Sensor Reading": "0h"},
                         data["Power"]["PSU1 Status (0x4)"])
        self.assertEqual("ok", temp["Status"])
        self.assertRegex(temp["Sensor Reading"], r"^\d+(\.\d+)? degrees C$")
        self.assertRegex(data["Fan"]["System Fan 1 (0x2)"]["Sensor Reading"], r"^\d+ RPM$")
        self.assertRegex(data["Voltage"]["12V (0x3)"]["Sensor Reading"], r"^\d+(\.\d+)? Volts$")
        for sensors in data.values():
            for sensor in sensors.values():
                self.assertIn("Entity ID", sensor)  # ironic-prometheus-exporter needs the key

    def test_sensors_without_a_reading_are_left_out(self):
        node = self.create_node(self.bmc())  # host off: fan and 12 V have no reading
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            data = task.driver.management.get_sensors_data(task)
        self.assertEqual({"Temperature": ["CPU Temp (0x1)"], "Power": ["PSU1 Status (0x4)"]},
                         {k: list(v) for k, v in data.items()})

    def _sensor_failure(self, **knobs) -> str:
        """get_sensors_data of a fresh BMC with ``knobs`` set: FailedToGetSensorData's text."""
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], **knobs)
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            e = self.assertRaises(exception.FailedToGetSensorData,
                                  task.driver.management.get_sensors_data, task)
        self.assertIn(node.uuid, str(e))
        return str(e)

    def test_sensor_read_failure(self):
        self.config(command_timeout=1.0, group="native_ipmi")
        self._sensor_failure(dead=True)

    def test_malformed_sdr_is_failed_to_get_sensor_data(self):
        # pyghmi's decoder raised IndexError straight into the conductor (issue 9, item 13).
        for fault, reason in (("malformed", "malformed SDR record 0x0001 (IndexError"),
                              ("loop", "SDR record ids loop")):
            self.assertIn(reason, self._sensor_failure(sdr_fault=fault))

    def test_inject_nmi(self):
        bmc = self.bmc()
        self.fleet.control.power([bmc.key], "on")
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.management.inject_nmi(task)
        self.assertEqual({"diag": 1}, self.bmc_state(bmc)["power_actions"])

    def test_inject_nmi_into_a_powered_off_host_fails_with_the_code(self):
        node = self.create_node(self.bmc())
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.management.inject_nmi, task)
        self.assertIn("0xD5", str(e))

    def test_detect_vendor_is_never_empty(self):
        node = self.create_node(self.bmc())
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual("iana-0", task.driver.management.detect_vendor(task))

    def test_conductor_caches_the_vendor_once(self):
        bmc = self.bmc()
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            cond_utils.node_cache_vendor(task)
        node.refresh()
        self.assertEqual("iana-0", node.properties["vendor"])

    def test_vendor_names(self):
        self.assertEqual("dell", management.vendor_name(674))
        self.assertEqual("supermicro", management.vendor_name(10876))
        self.assertEqual("iana-123456", management.vendor_name(123456))
