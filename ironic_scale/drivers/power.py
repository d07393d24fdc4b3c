"""Power interface ``native-ipmi``: Ironic's ipmitool power semantics, no ipmitool.

Same states, same waits (Ironic's ``node_wait_for_power_state``), same
``ipmi_force_boot_device`` handling before power-on; each BMC exchange is one
request on a persistent session instead of a forked ipmitool.
"""

from __future__ import annotations

from typing import Any

from ironic.common import exception, metrics_utils, states
from ironic.conductor import task_manager
from ironic.conductor import utils as cond_utils
from ironic.conf import CONF
from ironic.drivers import base
from ironic.drivers import utils as driver_utils

from ironic_scale.drivers import bulk_power, common, conductor_stop
from ironic_scale.drivers.metrics import REPORTER
from ironic_scale.ipmi import commands

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
    REPORTER.polled()
    on = common.run(task.node, "power status", commands.get_power)
    return states.POWER_ON if on else states.POWER_OFF


def ensure_next_boot_device(task: Any) -> None:
    """Before a power on: re-apply the device Ironic keeps for ``ipmi_force_boot_device``.

    Ironic's ``driver_utils.ensure_next_boot_device``, as ipmitool calls it,
    plus one fix: re-applying goes through ``set_boot_device(persistent=False)``,
    which records a one-time override (``is_next_boot_persistent: False``), so
    with ipmitool the following power on skips the device and every second
    boot falls back to the BIOS order. A re-application is not a one-time
    override: that mark is removed again.
    """
    node = task.node
    one_time_pending = node.driver_internal_info.get("is_next_boot_persistent") is False
    # driver_utils wants ipmitool's parsed-info key.
    force = node.driver_info.get("ipmi_force_boot_device", False)
    driver_utils.ensure_next_boot_device(task, {"force_boot_device": force})
    if not one_time_pending and node.driver_internal_info.get("is_next_boot_persistent") is False:
        node.del_driver_internal_info("is_next_boot_persistent")
        node.save()


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


class NativeIPMIPower(conductor_stop.LogsOutOnConductorStop, base.PowerInterface):
    """Power on/off/reboot/soft off over persistent IPMI 2.0 sessions."""

    def __init__(self) -> None:
        """:raises: InvalidParameterValue for a bad ``[native_ipmi]`` option (at driver load)."""
        super().__init__()
        common.check_config()

    def get_properties(self) -> dict[str, str]:
        return common.COMMON_PROPERTIES

    @METRICS.timer("NativeIPMIPower.validate")
    def validate(self, task: Any) -> None:
        """Check driver_info (every field, one error); never contacts the BMC."""
        common.credentials(task.node)

    @METRICS.timer("NativeIPMIPower.get_power_state")
    def get_power_state(self, task: Any) -> str:
        """POWER_ON or POWER_OFF.

        Under a shared lock, a node whose BMC just failed in the bulk read of
        this sync cycle gets that failure again without a second wait.
        :raises: IPMIFailure when the BMC does not answer or refuses.
        """
        failure = bulk_power.kept_failure(task)
        if failure is not None:
            raise failure
        return power_state(task)

    @METRICS.timer("NativeIPMIPower.get_power_states_bulk")
    def get_power_states_bulk(self, context: Any, nodes: list[Any]) -> dict[str, str | Exception]:
        """The power state (or the error) of every node, read together.

        Called by Ironic's power sync with ``[conductor]bulk_power_sync``
        (the project's patch series); ``nodes`` are read-only records, not
        Node objects, with at least ``uuid`` and ``driver_info``.
        """
        return bulk_power.read_power_states(nodes)

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
            ensure_next_boot_device(task)
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
            ensure_next_boot_device(task)
            _set_and_wait(task, states.POWER_ON, timeout)
        else:
            raise exception.InvalidParameterValue(
                f"set_power_state called with invalid power state {power_state}.")

    @METRICS.timer("NativeIPMIPower.reboot")
    @task_manager.require_exclusive_lock
    def reboot(self, task: Any, timeout: int | None = None) -> None:
        """Power off (unless already off), then on, as ipmitool's reboot does.

        With ``disable_power_off`` set on the node, a hard reset instead.
        :raises: PowerStateFailure if the node does not reach off, then on.
        """
        common.credentials(task.node)
        if task.node.disable_power_off:
            ensure_next_boot_device(task)
            _set_and_wait(task, states.REBOOT, timeout)
            return
        # Some BMCs refuse "off" for a host that is already off.
        if power_state(task) != states.POWER_OFF:
            _set_and_wait(task, states.POWER_OFF, timeout)
        ensure_next_boot_device(task)
        _set_and_wait(task, states.POWER_ON, timeout)

    def get_supported_power_states(self, task: Any) -> list[str]:
        return [states.POWER_ON, states.POWER_OFF, states.REBOOT,
                states.SOFT_REBOOT, states.SOFT_POWER_OFF]
