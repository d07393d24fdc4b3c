"""Typed IPMI commands over the engine: power, boot flags, device id (sensors: ipmi.sensors).

Each function is one or two requests; none logs in (the engine does that
off the hot path) and none knows about Ironic.
"""

from __future__ import annotations

from dataclasses import dataclass

from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine

# Sensors live in ipmi.sensors; re-exported for callers of commands.get_sensors.
from ironic_scale.ipmi.sensors import SDRError as SDRError
from ironic_scale.ipmi.sensors import get_sensors as get_sensors

NETFN_CHASSIS, NETFN_APP = 0x00, 0x06
CONTROL = {"off": 0, "on": 1, "cycle": 2, "reset": 3, "diag": 4, "soft": 5}
# Boot device selector values (bits 5:2 of boot flags byte 2, IPMI v2.0 table 28-14).
BOOT_DEVICES = {"pxe": 0x1, "disk": 0x2, "safe": 0x3, "cdrom": 0x5, "bios": 0x6, "floppy": 0xF}
BOOT_DEVICE_NAMES = {v: k for k, v in BOOT_DEVICES.items()}


def get_power(engine: Engine, creds: BmcCredentials, timeout: float) -> bool:
    """True when the host is on: one Get Chassis Status, one round trip."""
    data = engine.call(creds, NETFN_CHASSIS, 0x01, b"", timeout)
    if not data:
        raise errors.IPMIError(f"empty Get Chassis Status answer from {creds.target}")
    return bool(data[0] & 0x01)


def chassis_control(engine: Engine, creds: BmcCredentials, action: str, timeout: float) -> None:
    """off, on, cycle, reset, diag (NMI) or soft (ACPI shutdown)."""
    engine.call(creds, NETFN_CHASSIS, 0x02, bytes((CONTROL[action],)), timeout)


@dataclass(frozen=True)
class BootFlags:
    valid: bool
    persistent: bool
    efi: bool
    device: str | None  # None: no override (BIOS default)

    @classmethod
    def decode(cls, data: bytes) -> "BootFlags":
        selector = (data[1] >> 2) & 0x0F
        return cls(bool(data[0] & 0x80), bool(data[0] & 0x40), bool(data[0] & 0x20),
                   BOOT_DEVICE_NAMES.get(selector))


def get_boot_flags(engine: Engine, creds: BmcCredentials, timeout: float) -> BootFlags:
    """Get System Boot Options, parameter 5 (boot flags)."""
    data = engine.call(creds, NETFN_CHASSIS, 0x09, b"\x05\x00\x00", timeout)
    if len(data) < 7:
        raise errors.IPMIError(f"short boot flags answer from {creds.target}")
    return BootFlags.decode(data[2:7])


def set_boot_flags(engine: Engine, creds: BmcCredentials, device: str, persistent: bool,
                   efi: bool, timeout: float) -> None:
    """Set System Boot Options, parameter 5: boot from ``device`` next (or always)."""
    flags = 0x80 | (0x40 if persistent else 0) | (0x20 if efi else 0)
    engine.call(creds, NETFN_CHASSIS, 0x08,
                bytes((0x05, flags, BOOT_DEVICES[device] << 2, 0, 0, 0)), timeout)


def disable_boot_flag_timeout(engine: Engine, creds: BmcCredentials, timeout: float) -> None:
    """Parameter 3 = 0x08: the BMC keeps boot flags past its 60 s timeout.

    The same bytes Ironic's ipmitool driver sends (``raw 0x00 0x08 0x03 0x08``).
    """
    engine.call(creds, NETFN_CHASSIS, 0x08, b"\x03\x08", timeout)


WARM_RESET, COLD_RESET = 0x03, 0x02  # App netfn (IPMI v2.0 sections 20.2, 20.3)


def bmc_reset(engine: Engine, creds: BmcCredentials, warm: bool, answer_wait: float,
              timeout: float) -> bool:
    """BMC Warm or Cold Reset, sent once; True if the BMC answered it.

    Many BMCs reset without answering (ipmitool expects no answer to a cold reset
    and reports a missing one as sent), so silence after ``answer_wait`` seconds is
    not an error. Sent once because the engine would otherwise retransmit an
    unanswered request and, after a re-login, send it again: one reset could become
    several. So the session is made ready first (Get Device ID), and the reset's
    deadline is before its first retransmission (``answer_wait``, at most the
    engine's retry interval). Afterwards the session is logged out: the BMC may
    have forgotten it, and the next command logs in afresh.

    :raises: CommandFailed with the BMC's completion code when it refuses the reset.
    """
    engine.call(creds, NETFN_APP, 0x01, b"", timeout)
    try:
        engine.call(creds, NETFN_APP, WARM_RESET if warm else COLD_RESET, b"", answer_wait)
        answered = True
    except errors.BMCTimeout:
        answered = False
    engine.close(creds)
    return answered


@dataclass(frozen=True)
class DeviceId:
    device_id: int
    firmware: str
    ipmi_version: str
    manufacturer_id: int
    product_id: int


def get_device_id(engine: Engine, creds: BmcCredentials, timeout: float) -> DeviceId:
    data = engine.call(creds, NETFN_APP, 0x01, b"", timeout)
    if len(data) < 11:
        raise errors.IPMIError(f"short Get Device ID answer from {creds.target}")
    return DeviceId(data[0], f"{data[2] & 0x7F}.{data[3]:02x}", f"{data[4] & 0x0F}.{data[4] >> 4}",
                    int.from_bytes(data[6:9], "little"), int.from_bytes(data[9:11], "little"))
