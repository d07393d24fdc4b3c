"""Management interface ``native-ipmi``: boot device, sensors, NMI, vendor.

Mirrors Ironic's ``IPMIManagement`` (ipmitool) decision by decision: the boot
flag timeout, UEFI flags, ``ipmi_force_boot_device`` and the Supermicro UEFI
disk quirk, so a node behaves the same whichever of the two it uses.

The boot flags valid bit (IPMI v2.0 table 28-14, parameter 5 byte 1 bit 7)
is where the two part on purpose. ipmitool's ``get_boot_device`` ignores it
and reports the device selector; but a BMC clears the bit (keeping the
selector) when the host boots with one-time flags or after the 60 s timeout
(section 28.12; which events clear it is parameter 3, "boot flag valid bit
clearing"), so on a BMC that follows the spec ipmitool reports a device the
next boot will not use. Here flags without the valid bit read as no override
(``boot_device`` None). Some BMCs never report the bit (OpenIPMI ``ipmi_sim``
answers the whole byte as 0 yet boots as told): ``set_boot_device`` reads the
flags back once, and if the BMC dropped the bit at once although its timeout
was disabled, the node is marked (driver_internal_info
``native_ipmi_boot_valid_bit_unreported``) and its selector is reported as
ipmitool does. With no override ``persistent`` is False, as with ipmitool.
"""

from __future__ import annotations

from typing import Any

from ironic.common import boot_devices, exception, metrics_utils
from ironic.conductor import task_manager
from ironic.conf import CONF
from ironic.drivers import base
from ironic.drivers import utils as driver_utils
from ironic.drivers.modules import boot_mode_utils
from oslo_log import log as logging
from oslo_utils import strutils

from ironic_scale.drivers import common, conductor_stop
from ironic_scale.ipmi import commands, errors

LOG = logging.getLogger(__name__)
METRICS = metrics_utils.get_metrics_logger(__name__)

SUPPORTED_BOOT_DEVICES = [boot_devices.PXE, boot_devices.DISK, boot_devices.CDROM,
                          boot_devices.BIOS, boot_devices.SAFE]

# IANA enterprise numbers (Get Device ID manufacturer) of common server makers,
# named as Ironic compares them (``properties['vendor']``: e.g. 'supermicro').
IANA_VENDORS = {
    2: "ibm",
    11: "hp",
    343: "intel",
    674: "dell",
    2011: "huawei",
    5771: "cisco",
    7244: "quanta",
    10876: "supermicro",
    19046: "lenovo",
    20301: "ibm",
    47196: "hpe",
}

# Set System Boot Options parameter 5 with Supermicro's UEFI hard disk selector
# (0x24), as ipmitool's _vendor_aware_boot_device_map sends it.
_NETFN_CHASSIS, _CMD_SET_BOOT_OPTIONS, _SUPERMICRO_UEFI_DISK = 0x00, 0x08, 0x24

# driver_internal_info key: this node's BMC does not report the boot flags valid bit.
VALID_BIT_UNREPORTED = "native_ipmi_boot_valid_bit_unreported"


def vendor_name(manufacturer_id: int) -> str:
    """A vendor name for an IANA number; never empty, so Ironic caches it once."""
    return IANA_VENDORS.get(manufacturer_id, f"iana-{manufacturer_id}")


def _supermicro_uefi_disk(engine: Any, creds: Any, persistent: bool, timeout: float) -> None:
    flags = 0xE0 if persistent else 0xA0  # valid + EFI (+ persistent)
    engine.call(creds, _NETFN_CHASSIS, _CMD_SET_BOOT_OPTIONS,
                bytes((0x05, flags, _SUPERMICRO_UEFI_DISK, 0, 0, 0)), timeout)


# pyghmi unit -> the unit text ipmitool prints in 'Sensor Reading' (consumers
# such as Ceilometer take the last word: C, RPM, Volts -> V, Watts -> W).
_UNITS = {"°C": "degrees C", "°F": "degrees F", "K": "degrees K", "V": "Volts", "A": "Amps",
          "W": "Watts", "": "unspecified"}
_HEALTH = ((4, "Non-Recoverable"), (2, "Critical"), (1, "Non-Critical"))


def _reading_text(value: float, units: str) -> str:
    number = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{number} {_UNITS.get(units, units)}"


def _status_text(health: int) -> str:
    return next((text for bit, text in _HEALTH if health & bit), "ok")


def sensors_to_ironic(node_uuid: str, readings: list[dict[str, Any]]) -> dict[str, dict[str, dict]]:
    """commands.get_sensors() output as ipmitool's ``_parse_ipmi_sensors_data`` shapes it.

    {type: {sensor id: {'Sensor ID', 'Sensor Reading', ...}}}, the type being
    the first word of the sensor type as with ipmitool ('Power Supply' ->
    'Power'), so [sensor_data]data_types filters keep working. Threshold
    sensors with a current reading carry it with its unit ('24 degrees C');
    discrete sensors carry their raw reading byte as ipmitool prints it ('0h'),
    with no Status (ipmitool prints none for them), so ironic-prometheus-exporter
    makes the same metrics and labels of both drivers' data. Sensors without a
    current reading are left out, as ipmitool's parser leaves them out.
    """
    out: dict[str, dict[str, dict]] = {}
    for r in readings:
        if r["unavailable"] or (r["value"] is None and not r.get("discrete")):
            continue
        sensor_type = r["type"] or "Unknown"
        sensor_id = f"{r['name']} (0x{r['number']:x})"  # ipmitool's form: stable resource ids
        entity_id, instance = r.get("entity_code", (0, 0))
        sensor = {"Sensor ID": sensor_id,
                  "Entity ID": f"{entity_id}.{instance} ({r['entity']})"}  # ipmitool's form
        if r["value"] is None:
            sensor["Sensor Type (Discrete)"] = sensor_type
            sensor["Sensor Reading"] = f"{r.get('raw_reading', 0):x}h"
        else:
            sensor["Sensor Type (Threshold)"] = sensor_type
            sensor["Sensor Reading"] = _reading_text(r["value"], r["units"])
            sensor["Status"] = _status_text(r["health"])
        out.setdefault(sensor_type.split(" ", 1)[0], {})[sensor_id] = sensor
    if not out:
        raise exception.FailedToParseSensorData(
            node=node_uuid, error="the BMC reports no sensor with a current reading")
    return out


def _learn_valid_bit(task: Any, device: str) -> None:
    """Read the flags just set back once: does this BMC report the valid bit?

    The 60 s timeout is disabled and the host has not booted, so a BMC that
    follows the spec still shows the bit; one that shows our selector without
    it never reports the bit (see the module docstring). Remembered per node.
    """
    node = task.node
    try:
        flags = common.run(node, "get boot device (read back)", commands.get_boot_flags)
    except exception.IPMIFailure:
        return  # the flags are set; learn another time
    if flags.device != device:
        return
    node.set_driver_internal_info(VALID_BIT_UNREPORTED, not flags.valid)
    node.save()
    if not flags.valid:
        LOG.warning("The BMC of node %(node)s does not report the boot flags valid bit; "
                    "its boot device selector is reported as set", {"node": node.uuid})


def _is_true(value: Any) -> bool:
    return strutils.bool_from_string(value)


class NativeIPMIManagement(conductor_stop.LogsOutOnConductorStop, base.ManagementInterface):
    """Boot device, sensors, NMI and vendor detection over persistent IPMI sessions."""

    def __init__(self) -> None:
        """:raises: InvalidParameterValue for a bad ``[native_ipmi]`` option (at driver load)."""
        super().__init__()
        common.check_config()

    def get_properties(self) -> dict[str, str]:
        return common.COMMON_PROPERTIES

    @METRICS.timer("NativeIPMIManagement.validate")
    def validate(self, task: Any) -> None:
        """Check driver_info (every field, one error); never contacts the BMC."""
        common.credentials(task.node)

    def get_supported_boot_devices(self, task: Any) -> list[str]:
        return list(SUPPORTED_BOOT_DEVICES)

    @METRICS.timer("NativeIPMIManagement.set_boot_device")
    @task_manager.require_exclusive_lock
    def set_boot_device(self, task: Any, device: str, persistent: bool = False) -> None:
        """Boot from ``device`` next time (or always), as ipmitool's set_boot_device.

        :raises: InvalidParameterValue for an unsupported device or bad driver_info.
        :raises: IPMIFailure when the BMC refuses or does not answer.
        """
        if device not in SUPPORTED_BOOT_DEVICES:
            raise exception.InvalidParameterValue(f"Invalid boot device {device} specified.")
        node = task.node
        common.credentials(node)
        # The BMC forgets boot flags after 60 s unless told not to; per node
        # driver_info overrides [ipmi]disable_boot_timeout, as for ipmitool.
        idt = node.driver_info.get("ipmi_disable_boot_timeout")
        if idt is None:
            idt = CONF.ipmi.disable_boot_timeout
        timeout_disabled = _is_true(idt)
        if timeout_disabled:
            common.run(node, "boot flag timeout disable", commands.disable_boot_flag_timeout)
        else:
            LOG.info("For node %(node_uuid)s, driver_info['ipmi_disable_boot_timeout'] is set "
                     "to False, so not sending ipmi boot-timeout-disable",
                     {"node_uuid": node.uuid})
        if _is_true(node.driver_info.get("ipmi_force_boot_device", False)):
            # Ironic re-applies the device before every power on (see
            # driver_utils.ensure_next_boot_device); the BMC gets a one-time flag.
            driver_utils.force_persistent_boot(task, device, persistent)
            persistent = False
        efi = boot_mode_utils.get_boot_mode(node) == "uefi"
        vendor = str(node.properties.get("vendor") or "").lower()
        if efi and vendor == "supermicro" and device == boot_devices.DISK:
            common.run(node, "set boot device disk (Supermicro UEFI)", _supermicro_uefi_disk,
                       persistent)
            return
        common.run(node, f"set boot device {device}", commands.set_boot_flags, device,
                   persistent, efi)
        if timeout_disabled and VALID_BIT_UNREPORTED not in node.driver_internal_info:
            _learn_valid_bit(task, device)

    @METRICS.timer("NativeIPMIManagement.get_boot_device")
    def get_boot_device(self, task: Any) -> dict[str, Any]:
        """{'boot_device': device or None, 'persistent': bool or None}.

        With ``ipmi_force_boot_device`` the device Ironic keeps re-applying is
        reported (as ipmitool does); otherwise the BMC's boot flags. Flags
        without the valid bit are no override ({'boot_device': None,
        'persistent': False}) unless the BMC never reports that bit.
        """
        node = task.node
        common.credentials(node)
        info = node.driver_internal_info
        if (_is_true(node.driver_info.get("ipmi_force_boot_device", False))
                and info.get("persistent_boot_device")
                and info.get("is_next_boot_persistent", True)):
            return {"boot_device": info["persistent_boot_device"], "persistent": True}
        flags = common.run(node, "get boot device", commands.get_boot_flags)
        if not flags.valid and not info.get(VALID_BIT_UNREPORTED):
            return {"boot_device": None, "persistent": False}
        device = flags.device if flags.device in SUPPORTED_BOOT_DEVICES else None
        return {"boot_device": device, "persistent": flags.persistent}

    @METRICS.timer("NativeIPMIManagement.detect_vendor")
    def detect_vendor(self, task: Any) -> str:
        """The BMC's manufacturer (Get Device ID), e.g. 'dell', or 'iana-<number>'."""
        device_id = common.run(task.node, "get device id", commands.get_device_id)
        return vendor_name(device_id.manufacturer_id)

    @METRICS.timer("NativeIPMIManagement.get_sensors_data")
    def get_sensors_data(self, task: Any) -> dict[str, dict[str, dict[str, str]]]:
        """Sensor readings grouped by type, in the format of Ironic's ipmitool driver.

        :raises: FailedToGetSensorData when the BMC cannot be read, or its SDR
            loops, never ends, is malformed or takes too long (see ipmi.sensors).
        :raises: FailedToParseSensorData when it has no sensor with a reading.
        """
        node = task.node
        creds = common.credentials(node)
        try:
            readings = commands.get_sensors(common.engine(), creds, CONF.native_ipmi.command_timeout)
        except (errors.IPMIError, TimeoutError) as e:
            raise exception.FailedToGetSensorData(node=node.uuid,
                                                  error=str(e) or type(e).__name__) from e
        return sensors_to_ironic(node.uuid, readings)

    @METRICS.timer("NativeIPMIManagement.inject_nmi")
    @task_manager.require_exclusive_lock
    def inject_nmi(self, task: Any) -> None:
        """Chassis Control "diag": a non-maskable interrupt to the host now.

        :raises: IPMIFailure (a powered-off host answers completion code 0xD5).
        """
        common.run(task.node, "power diag", commands.chassis_control, "diag")
