"""native-ipmi power interface against simulated BMCs over UDP, used as the conductor uses it."""

import time

from ironic.common import exception, states
from ironic.conductor import task_manager
from ironic.conductor import utils as cond_utils

# The package (imported before this module) imports ironic.tests.unit first.
from tests.unit.drivers import NativeIPMITestCase


class PowerTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.41"
    FLEET_SIZE = 32

    def _node(self, power: str = "off", **kw):
        bmc = self.bmc()
        if power == "on":
            self.fleet.control.power([bmc.key], "on")
        return bmc, self.create_node(bmc, **kw)

    def test_get_power_state_reads_the_bmc_every_time(self):
        bmc, node = self._node()
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual(states.POWER_OFF, task.driver.power.get_power_state(task))
            self.fleet.control.power([bmc.key], "on")  # someone at the machine
            self.assertEqual(states.POWER_ON, task.driver.power.get_power_state(task))

    def test_power_on_then_off(self):
        bmc, node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.set_power_state(task, states.POWER_ON)
            self.assertEqual("on", self.bmc_state(bmc)["power"])
            task.driver.power.set_power_state(task, states.POWER_OFF)
        state = self.bmc_state(bmc)
        self.assertEqual("off", state["power"])
        self.assertEqual({"on": 1, "off": 1}, state["power_actions"])

    def test_conductor_power_action_records_the_new_state(self):
        bmc, node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            cond_utils.node_power_action(task, states.POWER_ON)
        node.refresh()
        self.assertEqual(states.POWER_ON, node.power_state)
        self.assertIsNone(node.last_error)
        self.assertEqual("on", self.bmc_state(bmc)["power"])

    def test_soft_power_off(self):
        bmc, node = self._node(power="on")
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.set_power_state(task, states.SOFT_POWER_OFF)
        state = self.bmc_state(bmc)
        self.assertEqual("off", state["power"])
        self.assertEqual({"soft": 1}, state["power_actions"])

    def test_reboot_is_off_then_on(self):
        bmc, node = self._node(power="on")
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.reboot(task)
        state = self.bmc_state(bmc)
        self.assertEqual("on", state["power"])
        self.assertEqual({"off": 1, "on": 1}, state["power_actions"])

    def test_reboot_of_a_node_that_is_off_only_powers_on(self):
        bmc, node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.set_power_state(task, states.REBOOT)
        self.assertEqual({"on": 1}, self.bmc_state(bmc)["power_actions"])

    def test_soft_reboot(self):
        bmc, node = self._node(power="on")
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.set_power_state(task, states.SOFT_REBOOT)
        state = self.bmc_state(bmc)
        self.assertEqual("on", state["power"])
        self.assertEqual({"soft": 1, "on": 1}, state["power_actions"])

    def test_reboot_with_power_off_disabled_is_a_hard_reset(self):
        bmc, node = self._node(power="on", disable_power_off=True)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.reboot(task)
        self.assertEqual({"reset": 1}, self.bmc_state(bmc)["power_actions"])

    def test_soft_reboot_with_power_off_disabled_is_refused(self):
        bmc, node = self._node(power="on", disable_power_off=True)
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertRaises(exception.UnsupportedHardwareFeature,
                              task.driver.power.set_power_state, task, states.SOFT_REBOOT)
        self.assertEqual({}, self.bmc_state(bmc)["power_actions"])

    def test_bmc_refusal_is_ipmi_failure_with_completion_code(self):
        # A hard reset of a powered-off host: the BMC answers 0xD5.
        bmc, node = self._node(disable_power_off=True)
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.power.reboot, task)
        self.assertIn("0xD5", str(e))
        self.assertIn("power reset", str(e))

    def test_single_bridging_reaches_the_controller_behind_the_bmc(self):
        bmc = self.bmc()
        # The simulator's satellite controller (as for HP Moonshot cartridges).
        info = self.driver_info(bmc, ipmi_bridging="single", ipmi_target_channel="7",
                                ipmi_target_address="0x72")
        node = self.create_node(driver_info=info)
        bridged_before = self.fleet.control.counters().get("req.send_message", 0)
        with task_manager.acquire(self.context, node.uuid) as task:
            task.driver.power.set_power_state(task, states.POWER_ON)
            self.assertEqual(states.POWER_ON, task.driver.power.get_power_state(task))
        self.assertGreaterEqual(self.fleet.control.counters()["req.send_message"] - bridged_before, 2)
        self.assertEqual({"on": 1}, self.bmc_state(bmc)["power_actions"])

    def test_bridging_to_nothing_is_ipmi_failure(self):
        bmc = self.bmc()
        info = self.driver_info(bmc, ipmi_bridging="single", ipmi_target_channel="7",
                                ipmi_target_address="0x74")
        node = self.create_node(driver_info=info)
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.power.get_power_state, task)
        self.assertIn("0x83", str(e))

    def test_invalid_power_state(self):
        bmc, node = self._node()
        with task_manager.acquire(self.context, node.uuid) as task:
            self.assertRaises(exception.InvalidParameterValue,
                              task.driver.power.set_power_state, task, "sideways")
        self.assertEqual({}, self.bmc_state(bmc)["power_actions"])

    def test_power_actions_need_an_exclusive_lock(self):
        bmc, node = self._node()
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertRaises(exception.ExclusiveLockRequired,
                              task.driver.power.set_power_state, task, states.POWER_ON)
            self.assertRaises(exception.ExclusiveLockRequired, task.driver.power.reboot, task)
        self.assertEqual({}, self.bmc_state(bmc)["power_actions"])

    def test_supported_power_states(self):
        bmc, node = self._node()
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            self.assertEqual({states.POWER_ON, states.POWER_OFF, states.REBOOT,
                              states.SOFT_REBOOT, states.SOFT_POWER_OFF},
                             set(task.driver.power.get_supported_power_states(task)))


class SettlingPowerTestCase(NativeIPMITestCase):
    """BMCs whose power status shows a change only 1 s after the command."""

    ADDRESS_PREFIX = "127.45"
    FLEET_SIZE = 4
    FLEET_ARGS = ("--settle", "1s")

    def test_power_on_waits_until_the_bmc_reports_on(self):
        bmc = self.bmc()
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            started = time.monotonic()
            task.driver.power.set_power_state(task, states.POWER_ON)
            waited = time.monotonic() - started
            # Returned only once the BMC reports on, which it cannot before 1 s.
            self.assertEqual(states.POWER_ON, task.driver.power.get_power_state(task))
        self.assertGreaterEqual(waited, 1.0)
        self.assertEqual({"on": 1}, self.bmc_state(bmc)["power_actions"])

    def test_state_not_reached_in_time_is_power_state_failure(self):
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], settle="60s")
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(exception.PowerStateFailure,
                                  task.driver.power.set_power_state, task, states.POWER_ON,
                                  timeout=2)
        self.assertIn(states.POWER_ON, str(e))
        self.assertEqual("off", self.bmc_state(bmc)["power"])
