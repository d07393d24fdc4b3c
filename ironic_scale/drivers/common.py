"""What the native-ipmi interfaces share: driver_info -> credentials, the engine, errors.

The node's ``ipmi_*`` driver_info is read exactly as Ironic's ipmitool
interfaces read it (their own parser does the common fields), so a node can
switch between ``ipmitool`` and ``native-ipmi`` without touching driver_info.
Parsed credentials are cached per node, keyed by the driver_info content, so
the power-sync hot path does no parsing; nothing here talks to a BMC.
"""

from __future__ import annotations

import collections
import copy
import ipaddress
import re
import threading
import types
from collections.abc import Callable
from typing import Any, TypeVar

from ironic.common import exception
from ironic.common import utils as ironic_utils
from ironic.conf import CONF
from ironic.drivers.modules import ipmitool
from oslo_log import log as logging

from ironic_scale import conf as ns_conf
from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import PRIV_LEVELS, BmcCredentials
from ironic_scale.ipmi.engine import Engine, EngineConfig, get_engine

LOG = logging.getLogger(__name__)

ns_conf.register_opts(CONF)

# The same fields, with the same help, as the ipmitool interfaces.
COMMON_PROPERTIES = ipmitool.COMMON_PROPERTIES

# Cipher suites this client implements; None (unset) tries 17, then 3.
CIPHER_SUITES = (3, 17)
# ipmitool's default local IPMB address (-m); the engine always uses it.
BMC_IPMB_ADDRESS = 0x20
_USE_IPMITOOL = "use the ipmitool power and management interfaces for this node"

T = TypeVar("T")

# -- driver_info -> credentials ------------------------------------------------------


def _strtol(value: Any) -> int:
    """An integer as ipmitool reads it (strtol base 0: 32, 0x20 or 040)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if re.fullmatch(r"0[0-7]+", text):
        return int(text, 8)
    return int(text, 0)


def _bridge(info: dict, missing: list[str], invalid: list[str]) -> tuple[int, int] | None:
    """(target channel, target address) for single bridging; dual is refused."""
    bridging = info.get("ipmi_bridging", "no")
    if bridging == "no":
        return None
    if bridging == "dual":
        invalid.append("dual bridging (ipmi_bridging=dual) is not supported by native-ipmi; "
                       + _USE_IPMITOOL)
        return None
    if bridging != "single":
        invalid.append(f"invalid value for ipmi_bridging: {bridging}, the valid value can be one "
                       f"of: single, no (dual needs the ipmitool interfaces)")
        return None
    values = []
    for name, top in (("ipmi_target_channel", 0x0F), ("ipmi_target_address", 0xFF)):
        raw = info.get(name)
        if raw is None:
            missing.append(name)
            continue
        try:
            number = _strtol(raw)
        except ValueError:
            invalid.append(f"{name} {raw!r} is not a number")
            continue
        if not 0 <= number <= top:
            invalid.append(f"{name} {raw!r} is out of range 0-{top:#x}")
            continue
        values.append(number)
    local = info.get("ipmi_local_address")
    if local is not None:
        try:
            local_ok = _strtol(local) == BMC_IPMB_ADDRESS
        except ValueError:
            local_ok = False
        if not local_ok:
            invalid.append(f"ipmi_local_address {local!r}: native-ipmi bridges from the BMC's own "
                           f"IPMB address {BMC_IPMB_ADDRESS:#x} only; " + _USE_IPMITOOL)
    return (values[0], values[1]) if len(values) == 2 else None


def _check_fields(node: Any, missing: list[str], invalid: list[str]) -> dict[str, Any]:
    """Check every field we interpret ourselves; record each problem, stop at none."""
    info = node.driver_info or {}
    out: dict[str, Any] = {}
    address = info.get("ipmi_address")
    if not address:
        missing.append("ipmi_address")
    else:
        try:
            ipmitool._validate_ipmi_address(address, node.uuid)
            if ipaddress.ip_address(address).version == 6:
                invalid.append(f"ipmi_address {address}: native-ipmi does not support IPv6 BMC "
                               "addresses yet; " + _USE_IPMITOOL)
        except exception.InvalidParameterValue as e:
            invalid.append(str(e))
        except ValueError:
            pass  # a host name (already checked by Ironic's rules)
    port = info.get("ipmi_port")
    if port is not None:
        try:
            ironic_utils.validate_network_port(port, "ipmi_port")
        except exception.InvalidParameterValue as e:
            invalid.append(str(e))
    priv_level = info.get("ipmi_priv_level", "ADMINISTRATOR")
    if priv_level not in PRIV_LEVELS:
        invalid.append(f"invalid privilege level value: {priv_level}, the valid value can be one "
                       f"of {', '.join(ipmitool.VALID_PRIV_LEVELS)}")
    version = str(info.get("ipmi_protocol_version", "2.0"))
    if version == "1.5":
        invalid.append("ipmi_protocol_version 1.5: native-ipmi speaks IPMI 2.0 only (RMCP+); "
                       + _USE_IPMITOOL)
    elif version != "2.0":
        invalid.append(f"invalid IPMI protocol version value {version}, the valid value is 2.0")
    suite = info.get("ipmi_cipher_suite")
    out["cipher_suite"] = None
    if suite is not None:
        try:
            out["cipher_suite"] = int(str(suite))
        except ValueError:
            invalid.append(f"invalid cipher suite {suite}, expected a number")
        else:
            if out["cipher_suite"] not in CIPHER_SUITES:
                invalid.append(f"ipmi_cipher_suite {suite} is not supported by native-ipmi: use 3 or "
                               "17, or leave it unset to try 17, then 3")
    kg = info.get("ipmi_hex_kg_key")
    out["kg"] = None
    if kg:
        # Never echo the key: it is a secret.
        if len(str(kg)) % 2:
            invalid.append("number of ipmi_hex_kg_key characters is not even")
        else:
            try:
                out["kg"] = bytes.fromhex(str(kg))
            except ValueError:
                invalid.append("ipmi_hex_kg_key is not a hexadecimal string")
    out["bridge"] = _bridge(info, missing, invalid)
    return out


def parse_driver_info(node: Any) -> BmcCredentials:
    """Credentials for ``node``; every bad field is reported in one exception.

    :raises: MissingParameterValue when only required fields are missing.
    :raises: InvalidParameterValue for any invalid field (listing all problems).
    """
    missing: list[str] = []
    invalid: list[str] = []
    ours = _check_fields(node, missing, invalid)
    if invalid:
        problems = [p.rstrip(".") for p in invalid] + [f"{name} is missing" for name in missing]
        raise exception.InvalidParameterValue(
            f"Invalid IPMI driver_info for native-ipmi: {'; '.join(problems)}.")
    if missing:
        raise exception.MissingParameterValue(
            f"Missing the following IPMI credentials in node's driver_info: {missing}.")
    # Ironic's parser for everything else, exactly as ipmitool reads it. It
    # would run the ipmitool binary to check bridging support, so it gets a
    # copy without ipmi_bridging (checked above).
    info = dict(node.driver_info)
    info.pop("ipmi_bridging", None)
    shadow = types.SimpleNamespace(uuid=node.uuid, driver_info=info,
                                   driver_internal_info=node.driver_internal_info or {})
    parsed = ipmitool._parse_driver_info(shadow)
    return BmcCredentials(
        address=parsed["address"],
        port=parsed["dest_port"] or 623,
        username=parsed["username"] or "",
        password=parsed["password"] or "",
        kg=ours["kg"],
        priv_level=PRIV_LEVELS[parsed["priv_level"]],
        cipher_suite=ours["cipher_suite"],
        bridge=ours["bridge"],
    )


class _CredentialCache:
    """Parsed credentials per node, valid while the node's driver_info is unchanged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[str, tuple[dict, BmcCredentials]] = (
            collections.OrderedDict())

    def get(self, node: Any) -> BmcCredentials:
        info = node.driver_info or {}
        with self._lock:
            hit = self._entries.get(node.uuid)
            if hit is not None and hit[0] == info:
                self._entries.move_to_end(node.uuid)
                return hit[1]
        creds = parse_driver_info(node)
        with self._lock:
            old = self._entries.pop(node.uuid, None)
            self._entries[node.uuid] = (copy.deepcopy(info), creds)
            while len(self._entries) > CONF.native_ipmi.session_cache_size:
                self._entries.popitem(last=False)
        if old is not None and old[1].session_key != creds.session_key:
            # New password, user or key: log the old session out now to give
            # its slot back to the BMC instead of waiting for idle_timeout.
            engine().close(old[1])
        return creds

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _CredentialCache()


def credentials(node: Any) -> BmcCredentials:
    """The node's BMC credentials; parsed once per driver_info change, no BMC traffic."""
    return _CACHE.get(node)


# -- engine ---------------------------------------------------------------------------

def _engine_config() -> EngineConfig:
    return ns_conf.engine_config(CONF)


def engine() -> Engine:
    """The process-wide IPMI engine, configured from ``[native_ipmi]`` on first use.

    A forked child (Ironic's cotyledon worker) gets a fresh one: get_engine forgets
    the parent's at fork.
    """
    return get_engine(_engine_config)


# -- running a command ----------------------------------------------------------------


def run(node: Any, what: str, command: Callable[..., T], *args: Any) -> T:
    """Run ``command(engine, creds, *args, timeout)`` for ``node``.

    Any IPMI failure becomes Ironic's IPMIFailure, carrying the BMC's
    completion code or the timeout/login reason (never a password).
    """
    creds = credentials(node)
    try:
        return command(engine(), creds, *args, CONF.native_ipmi.command_timeout)
    except (errors.IPMIError, TimeoutError) as e:
        reason = str(e) or type(e).__name__
        LOG.warning("IPMI %(what)s failed for node %(node)s (BMC %(bmc)s): %(error)s",
                    {"what": what, "node": node.uuid, "bmc": creds.target, "error": reason})
        raise exception.IPMIFailure(cmd=f"{what} for node {node.uuid}: {reason}") from e
