"""BMC failures as an operator sees them: IPMIFailure, in time, with no secret in sight."""

import logging
import time

import fixtures
from ironic.common import exception, states
from ironic.conductor import task_manager

from tests.unit.drivers import NativeIPMITestCase


class BMCFailureTestCase(NativeIPMITestCase):
    ADDRESS_PREFIX = "127.43"
    FLEET_SIZE = 8

    def _power_state(self, node):
        with task_manager.acquire(self.context, node.uuid, shared=True) as task:
            return task.driver.power.get_power_state(task)

    def test_wrong_password_is_ipmi_failure_without_the_password(self):
        bmc = self.bmc()
        self.fleet.control.set([bmc.key], password="Real-Secret-123")
        logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        # The DB fixture's alembic logging.config disables loggers that existed before it.
        for name in ("ironic_scale.drivers.common", "ironic_scale.ipmi.engine"):
            self.patch(logging.getLogger(name), "disabled", False)
        node = self.create_node(driver_info=self.driver_info(bmc, ipmi_password="Wrong-Secret-456"))
        e = self.assertRaises(exception.IPMIFailure, self._power_state, node)
        message = str(e)
        self.assertIn("login", message)
        self.assertIn(node.uuid, message)
        self.assertIn(bmc.address, message)
        for secret in ("Real-Secret-123", "Wrong-Secret-456"):
            self.assertNotIn(secret, message)
            self.assertNotIn(secret, logs.output)
        self.assertIn("failed for node", logs.output)  # the failure was logged, too

    def test_dead_bmc_fails_within_command_timeout(self):
        bmc = self.bmc()
        self.config(command_timeout=1.5, group="native_ipmi")
        node = self.create_node(bmc)
        self.assertEqual(states.POWER_OFF, self._power_state(node))  # a warm session first
        self.fleet.control.set([bmc.key], dead=True)
        started = time.monotonic()
        e = self.assertRaises(exception.IPMIFailure, self._power_state, node)
        elapsed = time.monotonic() - started
        self.assertIn("no answer", str(e))
        self.assertGreaterEqual(elapsed, 1.4)
        self.assertLess(elapsed, 1.5 + 1.0)

    def test_dead_bmc_fails_power_actions_too(self):
        bmc = self.bmc()
        self.config(command_timeout=1.0, group="native_ipmi")
        self.fleet.control.set([bmc.key], dead=True)
        node = self.create_node(bmc)
        with task_manager.acquire(self.context, node.uuid) as task:
            e = self.assertRaises(exception.IPMIFailure, task.driver.power.set_power_state,
                                  task, states.POWER_ON)
        self.assertIn("power on", str(e))

    def test_password_change_in_driver_info_is_used_by_the_next_call(self):
        bmc = self.bmc()
        node = self.create_node(bmc)
        self.assertEqual(states.POWER_OFF, self._power_state(node))
        # The operator rotates the BMC password; the BMC reboots, so no
        # session logged in with the old password survives to hide a stale one.
        self.fleet.control.set([bmc.key], password="Rotated-789")
        self.fleet.control.reboot([bmc.key])
        node.driver_info = self.driver_info(bmc, ipmi_password="Rotated-789")
        node.save()
        self.fleet.control.power([bmc.key], "on")
        self.assertEqual(states.POWER_ON, self._power_state(node))
