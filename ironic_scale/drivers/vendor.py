"""Vendor interface ``native-ipmi``: ipmitool's passthru methods plus a read-only power read.

``send_raw`` and ``bmc_reset`` are Ironic's own (``ipmitool.VendorPassthru``, same names,
arguments and steps). ``power_state`` is new: it reads the power state from the BMC through
the node's *power interface* and changes nothing. Ironic's REST API has no other way to read
a node's power from its BMC without acting on a mismatch (a power-state PUT powers the node
if the BMC disagrees; the power sync forces the database's state), and ``fleet migrate``
must compare what a newly switched interface reads with what Ironic had before letting the
node's power sync run on it.
"""

from __future__ import annotations

from typing import Any

from ironic.common import metrics_utils
from ironic.drivers import base
from ironic.drivers.modules import ipmitool

METRICS = metrics_utils.get_metrics_logger(__name__)


class NativeIPMIVendorPassthru(ipmitool.VendorPassthru):
    """ipmitool's vendor passthru with ``power_state`` (GET, synchronous, shared lock)."""

    @METRICS.timer("NativeIPMIVendorPassthru.power_state")
    @base.passthru(["GET"], async_call=False, require_exclusive_lock=False,
                   description="Read the power state from the BMC through the node's power "
                               "interface; changes nothing. Returns {'power_state': ...}.")
    def power_state(self, task: Any, **kwargs: Any) -> dict[str, str]:
        return {"power_state": task.driver.power.get_power_state(task)}

    def validate(self, task: Any, method: str, **kwargs: Any) -> None:
        if method == "power_state":
            task.driver.power.validate(task)  # whichever power interface the node has
            return
        super().validate(task, method, **kwargs)
