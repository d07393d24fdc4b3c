"""Power interface ``native-ipmi``: Ironic's ipmitool power semantics, no ipmitool.

Same states, same waits (Ironic's ``node_wait_for_power_state``), same
``ipmi_force_boot_device`` handling before power-on; each BMC exchange is one
request on a persistent session instead of a forked ipmitool.
"""

from __future__ import annotations

from typing import Any

from ironic.common import exception
from ironic.common import metrics_utils
from ironic.common import states
from ironic.conductor import task_manager
from ironic.conductor import utils as cond_utils
from ironic.conf import CONF
from ironic.drivers import base
from ironic.drivers import utils as driver_utils
from oslo_log import log as logging

from ironic_scale.drivers import common
from ironic_scale.ipmi import commands

LOG = logging.getLogger(__name__)
METRICS = metrics_utils.get_metrics_logger(__name__)

# Ironic power action -> (Chassis Control action, state to wait for).
_ACTIONS = {
    states.POWER_ON: ("on", states.POWER_ON),
    states.POWER_OFF: ("off", states.POWER_OFF),
    states.SOFT_POWER_OFF: ("soft", states.POWER_OFF),
    states.REBOOT: ("reset", states.POWER_ON),
}


def power_state(task: Any) -> str:
    """states.POWER_ON or POWER_OFF: one Get Chassis Status on a warm session."""
    on = common.run(task.node, "power status", commands.get_power)
    return states.POWER_ON if on else states.POWER_OFF


def _force_boot_info(task: Any) -> dict[str, Any]:
    # driver_utils.ensure_next_boot_device() wants ipmitool's parsed-info key.
    return {"force_boot_device": task.node.driver_info.get("ipmi_force_boot_device", False)}


def _set_and_wait(task: Any, power_action: str, timeout: int | None = None) -> str:
    """Send the action, then wait for the target state as ipmitool's ``_set_and_wait``.

    Unlike ipmitool we look once right away (most BMCs report the new state at
    once) before Ironic's back-off loop, whose first look is after 1 s; and a
    hard reset is not followed by ipmitool's fixed 15 s sleep: IPMI reset keeps
    the host powered, so POWER_ON is reached at once.
    """
    action, target = _ACTIONS[power_action]
    if power_action == states.SOFT_POWER_OFF:
        timeout = timeout or CONF.conductor.soft_power_off_timeout
    common.run(task.node, f"power {action}", commands.chassis_control, action)
    if power_state(task) == target:
        return target
    return cond_utils.node_wait_for_power_state(task, target, timeout=timeout)


class NativeIPMIPower(base.PowerInterface):
    """Power on/off/reboot/soft off over persistent IPMI 2.0 sessions."""

    def get_properties(self) -> dict[str, str]:
        return common.COMMON_PROPERTIES

    @METRICS.timer("NativeIPMIPower.validate")
    def validate(self, task: Any) -> None:
        """Check driver_info (every field, one error); never contacts the BMC."""
        common.credentials(task.node)

    @METRICS.timer("NativeIPMIPower.get_power_state")
    def get_power_state(self, task: Any) -> str:
        """POWER_ON or POWER_OFF.

        :raises: IPMIFailure when the BMC does not answer or refuses.
        """
        return power_state(task)

    @METRICS.timer("NativeIPMIPower.set_power_state")
    @task_manager.require_exclusive_lock
    def set_power_state(self, task: Any, power_state: str, timeout: int | None = None) -> None:
        """POWER_ON, POWER_OFF, SOFT_POWER_OFF, REBOOT or SOFT_REBOOT, then wait.

        :raises: InvalidParameterValue for any other state.
        :raises: IPMIFailure when the BMC refuses the action (completion code in
            the message) or does not answer.
        :raises: PowerStateFailure when the node does not reach the state in time.
        """
        common.credentials(task.node)  # bad driver_info fails before any action
        if power_state == states.POWER_ON:
            driver_utils.ensure_next_boot_device(task, _force_boot_info(task))
            _set_and_wait(task, states.POWER_ON, timeout)
        elif power_state == states.POWER_OFF:
            _set_and_wait(task, states.POWER_OFF, timeout)
        elif power_state == states.SOFT_POWER_OFF:
            _set_and_wait(task, states.SOFT_POWER_OFF, timeout)
        elif power_state == states.REBOOT:
            self.reboot(task, timeout=timeout)
        elif power_state == states.SOFT_REBOOT:
            if task.node.disable_power_off:
                raise exception.UnsupportedHardwareFeature(node=task.node.uuid,
                                                           feature=states.SOFT_POWER_OFF)
            _set_and_wait(task, states.SOFT_POWER_OFF, timeout)
            driver_utils.ensure_next_boot_device(task, _force_boot_info(task))
            _set_and_wait(task, states.POWER_ON, timeout)
        else:
            raise exception.InvalidParameterValue(
                "set_power_state called with invalid power state %s." % power_state)

    @METRICS.timer("NativeIPMIPower.reboot")
    @task_manager.require_exclusive_lock
    def reboot(self, task: Any, timeout: int | None = None) -> None:
        """Power off (unless already off), then on, as ipmitool's reboot does.

        With ``disable_power_off`` set on the node, a hard reset instead.
        :raises: PowerStateFailure if the node does not reach off, then on.
        """
        common.credentials(task.node)
        if task.node.disable_power_off:
            driver_utils.ensure_next_boot_device(task, _force_boot_info(task))
            _set_and_wait(task, states.REBOOT, timeout)
            return
        # Some BMCs refuse "off" for a host that is already off.
        if power_state(task) != states.POWER_OFF:
            _set_and_wait(task, states.POWER_OFF, timeout)
        driver_utils.ensure_next_boot_device(task, _force_boot_info(task))
        _set_and_wait(task, states.POWER_ON, timeout)

    def get_supported_power_states(self, task: Any) -> list[str]:
        return [states.POWER_ON, states.POWER_OFF, states.REBOOT,
                states.SOFT_REBOOT, states.SOFT_POWER_OFF]
