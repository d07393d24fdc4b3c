"""Vendor interface ``native-ipmi``: ipmitool's passthru methods over the engine, plus a power read.

``send_raw`` and ``bmc_reset`` have Ironic's names, arguments, HTTP methods, locks and
steps (``ipmitool.VendorPassthru``), but run over the engine's persistent session: no
``ipmitool`` process, no binary needed. Differences, each where ipmitool would do
something other than what was asked:

- ``raw_bytes`` is checked when the request is validated (the API answers 400 at once)
  instead of failing later in ipmitool: ipmitool's syntax exactly (ipmi/raw.py), except
  that an empty word is refused rather than sent as 0x00, and a netfn above 0x3F.
- ``warm`` must be a boolean: Ironic reads "flase" as false, which is a cold reset.
- A refused command's error carries the BMC's completion code and its meaning.
- A BMC that resets without answering is taken as reset, as ipmitool takes it (see
  ipmi.commands.bmc_reset); the answer is waited for one retry interval.

``power_state`` is new: it reads the power state from the BMC through the node's *power
interface* and changes nothing. Ironic's REST API has no other way to read a node's power
from its BMC without acting on a mismatch (a power-state PUT powers the node if the BMC
disagrees; the power sync forces the database's state), and ``fleet migrate`` must compare
what a newly switched interface reads with what Ironic had before letting the node's power
sync run on it.
"""

from __future__ import annotations

from typing import Any

from ironic.common import exception, metrics_utils
from ironic.common.i18n import _
from ironic.conductor import task_manager
from ironic.conf import CONF
from ironic.drivers import base
from ironic.drivers.modules import ipmitool
from oslo_log import log as logging
from oslo_utils import strutils

from ironic_scale.drivers import common
from ironic_scale.ipmi import commands, raw

LOG = logging.getLogger(__name__)
METRICS = metrics_utils.get_metrics_logger(__name__)

# Ironic's step arguments for send_raw, reused as they are (same text in the API).
_SEND_RAW_STEP_ARGS = ipmitool.VendorPassthru._send_raw_step_args


def _raw_request(raw_bytes: Any) -> tuple[int, int, bytes]:
    """:raises: MissingParameterValue (as Ironic) or InvalidParameterValue, one line."""
    if not raw_bytes:
        raise exception.MissingParameterValue(
            _("Parameter raw_bytes (string of bytes) was not specified."))
    try:
        return raw.parse_raw_bytes(raw_bytes)
    except ValueError as e:
        raise exception.InvalidParameterValue(_("Invalid raw_bytes: %s.") % e) from None


def _warm(value: Any) -> bool:
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise exception.InvalidParameterValue(
            _("Invalid value for 'warm': %s; use true (warm reset) or false (cold reset).")
            % str(value)[:40]) from None


@METRICS.timer("native_ipmi.send_raw")
@task_manager.require_exclusive_lock
def send_raw(task: Any, raw_bytes: str) -> tuple[str, str]:
    """Send one raw request to the node's BMC; (stdout, stderr) as ipmitool's send_raw returns.

    :raises: IPMIFailure when the BMC refuses it (with its completion code) or does not
        answer, or for raw_bytes that are not ipmitool's syntax (as ipmitool fails on them).
    """
    node = task.node
    LOG.debug("Sending node %(node)s raw bytes %(bytes)s", {"node": node.uuid, "bytes": raw_bytes})
    try:
        request = raw.parse_raw_bytes(raw_bytes)
    except ValueError as e:
        raise exception.IPMIFailure(cmd=f"raw {str(raw_bytes)[:80]}: {e}") from None
    data = common.run(node, f"raw {raw_bytes}", raw.send_request, request)
    return raw.format_response(data), ""


class NativeIPMIVendorPassthru(base.VendorInterface):
    """ipmitool's vendor passthru without ipmitool, and ``power_state`` (GET, shared lock)."""

    def get_properties(self) -> dict[str, str]:
        return common.COMMON_PROPERTIES

    @METRICS.timer("NativeIPMIVendorPassthru.validate")
    def validate(self, task: Any, method: str, **kwargs: Any) -> None:
        """Check the method's arguments and the node's driver_info; no BMC traffic.

        :raises: MissingParameterValue, InvalidParameterValue.
        """
        if method == "power_state":
            task.driver.power.validate(task)  # whichever power interface the node has
            return
        if method == "send_raw":
            _raw_request(kwargs.get("raw_bytes"))
        elif method == "bmc_reset" and "warm" in kwargs:
            _warm(kwargs["warm"])
        common.parse_driver_info(task.node)

    @METRICS.timer("NativeIPMIVendorPassthru.send_raw")
    @base.service_step(priority=0, argsinfo=_SEND_RAW_STEP_ARGS)
    @base.deploy_step(priority=0, argsinfo=_SEND_RAW_STEP_ARGS)
    @base.clean_step(priority=0, abortable=False, argsinfo=_SEND_RAW_STEP_ARGS,
                     requires_ramdisk=False)
    @base.passthru(["POST"],
                   description=_("Send raw bytes to the BMC. Required argument: 'raw_bytes' - "
                                 "a string of raw bytes (e.g. '0x00 0x01')."))
    @task_manager.require_exclusive_lock
    def send_raw(self, task: Any, **kwargs: Any) -> None:
        """Send raw bytes to the BMC (Ironic's method: the answer is logged, not returned).

        :raises: MissingParameterValue without raw_bytes; IPMIFailure as send_raw.
        """
        raw_bytes = kwargs.get("raw_bytes")
        if not raw_bytes:
            raise exception.MissingParameterValue("Argument raw_bytes is missing.")
        out, _err = send_raw(task, raw_bytes)
        LOG.debug("send raw bytes returned stdout: %(stdout)s", {"stdout": out})

    @METRICS.timer("NativeIPMIVendorPassthru.bmc_reset")
    @base.passthru(["POST"],
                   description=_("Reset the BMC. Required argument: 'warm' (Boolean) - for "
                                 "warm (True) or cold (False) reset."))
    @task_manager.require_exclusive_lock
    def bmc_reset(self, task: Any, http_method: str, warm: Any = True) -> None:
        """BMC Warm or Cold Reset (App netfn 0x06, command 0x03 or 0x02).

        :raises: InvalidParameterValue for a ``warm`` that is not a boolean;
            IPMIFailure when the BMC refuses the reset (with its completion code)
            or cannot be reached.
        """
        kind = "warm" if _warm(warm) else "cold"
        node = task.node
        LOG.debug("Doing %(warm)s BMC reset on node %(node)s", {"warm": kind, "node": node.uuid})
        group = CONF.native_ipmi
        # At most one retransmission (none unless min_command_interval delays the send).
        answer_wait = group.retry_interval + group.min_command_interval
        answered = common.run(node, f"bmc reset {kind}", commands.bmc_reset, kind == "warm",
                              answer_wait)
        if not answered:
            LOG.info("The BMC of node %(node)s did not answer the %(warm)s reset within "
                     "%(wait).1f s; taken as reset (many BMCs reset before answering, and "
                     "ipmitool does the same)", {"node": node.uuid, "warm": kind, "wait": answer_wait})

    @METRICS.timer("NativeIPMIVendorPassthru.power_state")
    @base.passthru(["GET"], async_call=False, require_exclusive_lock=False,
                   description="Read the power state from the BMC through the node's power "
                               "interface; changes nothing. Returns {'power_state': ...}.")
    def power_state(self, task: Any, **kwargs: Any) -> dict[str, str]:
        return {"power_state": task.driver.power.get_power_state(task)}
