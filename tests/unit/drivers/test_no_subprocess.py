"""Proof that no code path of the native-ipmi interfaces starts a process.

The only patches in this module: every way Python can start a process,
replaced by a tripwire that records the attempt and raises AssertionError.
``subprocess.Popen.__init__`` (the real class, whatever name the caller
imported it under: subprocess.run/call/check_output, processutils and
os.popen all go through it), ``os.fork``, ``os.posix_spawn``,
``os.posix_spawnp``, ``os.execv``, ``os.execve`` and ``os.system``. Nothing
else is faked: nodes are in Ironic's database, BMCs are simulated over UDP.
Attempts are recorded as well as raised, because Ironic swallows some
exceptions (node_cache_vendor logs and continues): the test fails on either.
"""

import os
import subprocess

from ironic.common import boot_devices, exception, states
from ironic.conductor import task_manager
from ironic.conductor import utils as cond_utils
from ironic.drivers.modules import ipmitool
from oslo_concurrency import processutils

from tests.unit.drivers import NativeIPMITestCase

SPAWNERS = ((subprocess.Popen, "__init__"), (os, "fork"), (os, "posix_spawn"), (os, "posix_spawnp"),
            (os, "execv"), (os, "execve"), (os, "system"))


class NoSubprocessTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.44"
    FLEET_SIZE = 8
    # Ironic's own blockers (utils.execute, subprocess.call, a fake Popen...)
    # would stop some routes before our tripwires: leave every route open to them.
    block_execute = False

    def setUp(self):
        super().setUp()
        # Only native-ipmi interfaces, and ipmitool's cached capability checks
        # unknown: nothing here may lean on what ipmitool once found out.
        self.config(enabled_power_interfaces=["native-ipmi"],
                    enabled_management_interfaces=["native-ipmi"])
        for name in ("TIMING_SUPPORT", "SINGLE_BRIDGE_SUPPORT", "DUAL_BRIDGE_SUPPORT"):
            self.patch(ipmitool, name, None)
        self.spawned = []
        for owner, name in SPAWNERS:
            self.patch(owner, name, self._tripwire(f"{getattr(owner, '__name__', owner)}.{name}"))

    def _tripwire(self, what):
        def spawn(*args, **kwargs):
            self.spawned.append(what)
            raise AssertionError(f"{what} called: native-ipmi must not start a process")
        return spawn

    def test_every_interface_method_without_a_process(self):
        bmc = self.bmc()
        node = self.create_node(driver_info=self.driver_info(bmc, ipmi_force_boot_device="true"))
        with task_manager.acquire(self.context, node.uuid) as task:
            power, management = task.driver.power, task.driver.management
            power.validate(task)
            management.validate(task)
            power.get_properties()
            management.get_properties()
            self.assertEqual(states.POWER_OFF, power.get_power_state(task))
            power.get_supported_power_states(task)
            management.get_supported_boot_devices(task)
            management.set_boot_device(task, boot_devices.PXE, persistent=True)
            management.set_boot_device(task, boot_devices.DISK)
            management.get_boot_device(task)
            for state in (states.POWER_ON, states.POWER_OFF, states.SOFT_POWER_OFF,
                          states.REBOOT, states.SOFT_REBOOT):
                power.set_power_state(task, state)
            power.reboot(task)
            cond_utils.node_power_action(task, states.POWER_OFF)
            cond_utils.node_power_action(task, states.POWER_ON)
            management.inject_nmi(task)
            self.assertTrue(management.get_sensors_data(task))
            self.assertTrue(management.detect_vendor(task))
            cond_utils.node_cache_vendor(task)
        self.assertEqual("on", self.bmc_state(bmc)["power"])
        self.assertEqual([], self.spawned)

    def test_failure_paths_without_a_process(self):
        self.config(command_timeout=1.0, group="native_ipmi")
        wrong, dead = self.bmc(), self.bmc()
        self.fleet.control.set([dead.key], dead=True)
        for info in (self.driver_info(wrong, ipmi_password="wrong"), self.driver_info(dead)):
            node = self.create_node(driver_info=info)
            with task_manager.acquire(self.context, node.uuid) as task:
                self.assertRaises(exception.IPMIFailure, task.driver.power.get_power_state, task)
                self.assertRaises(exception.FailedToGetSensorData,
                                  task.driver.management.get_sensors_data, task)
        bridged = {"ipmi_bridging": "single", "ipmi_target_channel": "7",
                   "ipmi_target_address": "0x72"}
        for extra in (bridged, {**bridged, "ipmi_bridging": "dual"},
                      {"ipmi_protocol_version": "1.5"}, {"ipmi_port": "x"}):
            node = self.create_node(driver_info=self.driver_info(wrong, **extra))
            with task_manager.acquire(self.context, node.uuid, shared=True) as task:
                if extra is bridged:
                    task.driver.power.validate(task)
                else:
                    self.assertRaises(exception.InvalidParameterValue,
                                      task.driver.power.validate, task)
        self.assertEqual([], self.spawned)

    def test_the_tripwires_work(self):
        # The patches above must catch a real attempt, or the tests prove nothing.
        self.assertRaises(AssertionError, subprocess.run, ["true"])
        self.assertRaises(AssertionError, processutils.execute, "true")
        self.assertRaises(AssertionError, os.fork)
        self.assertRaises(AssertionError, os.posix_spawn, "/bin/true", ["true"], {})
        self.assertEqual(["Popen.__init__", "Popen.__init__", "os.fork", "os.posix_spawn"],
                         self.spawned)
