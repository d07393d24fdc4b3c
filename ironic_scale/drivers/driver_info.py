"""A node's ``ipmi_*`` driver_info -> BmcCredentials, with Ironic's errors for bad values.

Read exactly as Ironic's ipmitool interfaces read it (their own parser does
the common fields), so a node can switch between ``ipmitool`` and
``native-ipmi`` without touching driver_info. Where a value would be misread
(a wrong JSON type, a non-canonical IPv4 spelling, an overlong user name) it
is refused with Ironic's own exceptions, naming the field, before it can reach
the engine's IO thread. Nothing here talks to a BMC.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
import types
from typing import Any

from ironic.common import exception
from ironic.common import utils as ironic_utils
from ironic.conf import CONF
from ironic.drivers.modules import ipmitool
from oslo_log import log as logging
from oslo_utils import strutils

from ironic_scale.ipmi.credentials import (
    CIPHER_SUITES,
    MAX_ADDRESS_CHARS,
    MAX_KG_BYTES,
    MAX_PASSWORD_BYTES,
    MAX_USERNAME_BYTES,
    PRIV_LEVELS,
    BmcCredentials,
    is_int,
)
from ironic_scale.ipmi.resolver import canonical_ipv4

LOG = logging.getLogger(__name__)

# The same fields, with the same help, as the ipmitool interfaces.
COMMON_PROPERTIES = ipmitool.COMMON_PROPERTIES

# ipmitool's default local IPMB address (-m); the engine always uses it.
BMC_IPMB_ADDRESS = 0x20
_USE_IPMITOOL = "use the ipmitool power and management interfaces for this node"

# -- driver_info -> credentials ------------------------------------------------------
#
# Every field is checked for its JSON type before anything uses it: a list where a
# string belongs must give Ironic's InvalidParameterValue naming the field, never a
# TypeError, and nothing odd may reach the engine's IO thread. Values are echoed
# only through _shown() (short, printable); passwords and Kg keys never.

_SHOWN_CHARS = 40
_NUMERIC_LABEL = r"(?:0[xX][0-9a-fA-F]*|[0-9]+)"
# What C's inet_aton(3) (so getaddrinfo and ipmitool) may read as an IPv4 address:
# "2130706433", "127.1", "0x7f.0.0.1", "127.0.0.010" (octal: .8), "127.0.0.1.".
_NUMERIC_HOST = re.compile(rf"{_NUMERIC_LABEL}(?:\.{_NUMERIC_LABEL})*\.?")
_C_INTEGER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+)")
# Boolean fields the interfaces read later (with Ironic's strutils.bool_from_string).
_FLAGS = ("ipmi_force_boot_device", "ipmi_disable_boot_timeout")


def _shown(value: Any) -> str:
    """``value`` as a message may echo it: printable and at most ~40 characters.

    A driver_info value can be megabytes (one came back whole as a 10 MB error).
    """
    if isinstance(value, str):
        text = value[:_SHOWN_CHARS + 1]
    else:
        try:
            text = reprlib.repr(value)
        except ValueError:  # an int too long for str() (sys.get_int_max_str_digits)
            text = f"<int of {value.bit_length()} bits>"
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _as_text(value: Any) -> str | None:
    """``value`` as ipmitool's command line gets it (Ironic str()s every argument):
    a str, or an int's digits; None for every other JSON type."""
    if isinstance(value, str):
        return value
    if is_int(value) and value.bit_length() <= 4000:  # str() refuses > 4300 digits
        return str(value)
    return None


def _strtol(value: Any) -> int:
    """An integer as ipmitool reads it (strtol base 0: 32, 0x20 or 040); ValueError if none."""
    if is_int(value):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if not _C_INTEGER.fullmatch(text):  # ASCII only: int() would also take "٣"
        raise ValueError(text)
    if re.fullmatch(r"[+-]?0[0-7]+", text):
        return int(text, 8)
    return int(text, 0)


def _address_problem(address: str, node_uuid: str) -> str | None:
    """Why ``address`` cannot be used, or None.

    Numeric spellings other than the canonical dotted quad are refused, not
    canonicalised: the engine matches replies by their source address (the
    canonical quad), the same driver_info also feeds ipmitool and people, and a
    silent rewrite would pick one reading of an ambiguous value ("127.0.0.010" is
    127.0.0.8 to inet_aton but .10 to a human) for a machine we power off.
    """
    if len(address) > MAX_ADDRESS_CHARS:
        return f"ipmi_address '{_shown(address)}' is longer than {MAX_ADDRESS_CHARS} characters"
    if not address.isprintable() or any(c.isspace() for c in address):
        # e.g. a trailing newline, which Ironic's host name check lets through
        return (f"Invalid IPMI address '{_shown(address)}' (ipmi_address): it contains "
                "whitespace or control characters")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is None and _NUMERIC_HOST.fullmatch(address):
        canonical = canonical_ipv4(address.removesuffix("."))
        if canonical is None:
            return f"ipmi_address '{_shown(address)}' is not a valid IPv4 address"
        return (f"ipmi_address '{_shown(address)}' is not a canonical IPv4 address; "
                f"use {canonical}")
    if ip is None and not ironic_utils.is_hostname_safe(address):
        # Ironic's own rule (ipmitool._validate_ipmi_address), without echoing it whole.
        return (f'Invalid IPMI address "{_shown(address)}" (ipmi_address) for node {node_uuid}. '
                "Must be a valid IP address or hostname")
    return None  # an IPv6 address in any spelling, as for Ironic (no brackets): unambiguous


def _check_address(info: dict, node_uuid: str, missing: list[str], invalid: list[str]) -> None:
    """A str that is an IPv4 dotted quad, an IPv6 address or a host name; falsy is missing
    (as for Ironic)."""
    address = info.get("ipmi_address")
    if not address:
        missing.append("ipmi_address")
    elif not isinstance(address, str):
        invalid.append("ipmi_address must be a string (a host name or an IP address), not "
                       + _type_name(address))
    else:
        problem = _address_problem(address, node_uuid)
        if problem:
            invalid.append(problem)


def _check_port(value: Any, name: str, invalid: list[str]) -> None:
    """Ironic's port rule (validate_network_port), minus bools, echoing at most ~40 characters."""
    if is_int(value) or isinstance(value, str):
        try:
            ironic_utils.validate_network_port(value, name)
            return
        except exception.InvalidParameterValue:
            pass
    invalid.append(f'{name} "{_shown(value)}" is not a valid port')


def _username(info: dict, invalid: list[str]) -> str:
    """The RAKP user name: at most 16 bytes (ipmitool refuses longer ones too)."""
    value = info.get("ipmi_username")
    if not value:
        return ""  # ipmitool's NULL user
    text = _as_text(value)
    if text is None:
        invalid.append(f"ipmi_username must be a string, not {_type_name(value)}")
        return ""
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        invalid.append(f"ipmi_username '{_shown(text)}' is not valid Unicode")
        return ""
    if not text.isprintable():
        invalid.append(f"ipmi_username '{_shown(text)}' contains control characters")
    elif size > MAX_USERNAME_BYTES:
        invalid.append(f"ipmi_username '{_shown(text)}' is longer than {MAX_USERNAME_BYTES} "
                       "bytes, the IPMI limit")
    return text


def _ipmitool_key(data: bytes) -> bytes:
    """The password bytes ipmitool logs in with when Ironic hands it ``data``.

    Ironic writes the password to a file (``-f``) unless [ipmi]store_cred_in_env
    (``-E``). ipmitool reads the file with fgets(21), which stops after a newline,
    and cuts at the first CR, LF or tab unless that is the first byte; either way
    it keeps a C string (up to a NUL) of at most 20 bytes (IPMI 2.0's K_UID).
    """
    if not CONF.ipmi.store_cred_in_env:
        data = data[:MAX_PASSWORD_BYTES]
        data = data[:data.index(b"\n") + 1] if b"\n" in data else data
        cut = min((i for i in map(data.find, (b"\r", b"\n", b"\t")) if i >= 0), default=0)
        data = data[:cut] if cut > 0 else data
    return data.split(b"\0", 1)[0][:MAX_PASSWORD_BYTES]


def _password(info: dict, node_uuid: str, invalid: list[str]) -> str:
    """The password as ipmitool would use it (see _ipmitool_key); never echoed.

    A password longer than 20 bytes is not refused: Ironic's ipmitool interfaces
    accept it and ipmitool logs in with its first 20 bytes, so native-ipmi does
    the same, and a node switches drivers without touching driver_info.
    """
    value = info.get("ipmi_password")
    if value is None:
        return ""  # (Ironic's str() would make it the password "None")
    text = _as_text(value)
    if text is None:
        invalid.append(f"ipmi_password must be a string, not {_type_name(value)}")
        return ""
    try:
        data = text.encode()
    except UnicodeEncodeError:
        invalid.append("ipmi_password is not valid Unicode (it has a lone surrogate)")
        return ""
    key = _ipmitool_key(data)
    if key == data:
        return text
    try:
        used = key.decode()
    except UnicodeDecodeError:
        invalid.append(f"ipmi_password: its first {MAX_PASSWORD_BYTES} bytes, which ipmitool "
                       "would use, end inside a multi-byte character")
        return ""
    LOG.warning("ipmi_password of node %(node)s is longer than ipmitool reads (%(max)d bytes, "
                "up to a line break, tab or NUL); using the %(n)d bytes ipmitool uses",
                {"node": node_uuid, "max": MAX_PASSWORD_BYTES, "n": len(key)})
    return used


def _priv_level(info: dict, invalid: list[str]) -> int:
    value = info.get("ipmi_priv_level", "ADMINISTRATOR")
    if isinstance(value, str) and value in PRIV_LEVELS:
        return PRIV_LEVELS[value]
    invalid.append(f"invalid privilege level value (ipmi_priv_level): {_shown(value)}, the valid "
                   f"value can be one of {', '.join(ipmitool.VALID_PRIV_LEVELS)}")
    return PRIV_LEVELS["ADMINISTRATOR"]


def _check_protocol_version(info: dict, invalid: list[str]) -> None:
    value = info.get("ipmi_protocol_version", "2.0")
    version = value if isinstance(value, str) else _shown(value)  # Ironic: str(); 2.0 is "2.0"
    if version == "1.5":
        invalid.append("ipmi_protocol_version 1.5: native-ipmi speaks IPMI 2.0 only (RMCP+); "
                       + _USE_IPMITOOL)
    elif version != "2.0":
        invalid.append(f"invalid IPMI protocol version value (ipmi_protocol_version) {_shown(version)}, "
                       "the valid value is 2.0")


def _cipher_suite(info: dict, invalid: list[str]) -> int | None:
    value = info.get("ipmi_cipher_suite")
    if value is None:
        return None
    try:
        suite = int(value) if is_int(value) or isinstance(value, str) else None
    except ValueError:
        suite = None
    if suite is None:
        invalid.append(f"invalid cipher suite (ipmi_cipher_suite) {_shown(value)}, expected a number")
        return None
    if suite not in CIPHER_SUITES:
        invalid.append(f"ipmi_cipher_suite {_shown(value)} is not supported by native-ipmi: use 3 "
                       "or 17, or leave it unset to try 17, then 3")
        return None
    return suite


def _kg(info: dict, invalid: list[str]) -> bytes | None:
    """The BMC key, or None; never echoed (it is a secret).

    All zeros means "no Kg" to ipmitool (it then keys the session with the
    password), so it does here too; a falsy value is unset, as for Ironic.
    """
    value = info.get("ipmi_hex_kg_key")
    if not value:
        return None
    if not isinstance(value, str):
        invalid.append("ipmi_hex_kg_key must be a string of hexadecimal digits, not "
                       + _type_name(value))
    elif len(value) % 2:
        invalid.append("number of ipmi_hex_kg_key characters is not even")
    elif not re.fullmatch("[0-9a-fA-F]*", value):  # bytes.fromhex would skip spaces
        invalid.append("ipmi_hex_kg_key is not a hexadecimal string")
    elif len(value) > 2 * MAX_KG_BYTES:
        invalid.append(f"ipmi_hex_kg_key is longer than {MAX_KG_BYTES} bytes "
                       f"({2 * MAX_KG_BYTES} hexadecimal digits), the IPMI limit")
    else:
        key = bytes.fromhex(value)
        return key if any(key) else None
    return None


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
        invalid.append(f"invalid value for ipmi_bridging: {_shown(bridging)}, the valid value can "
                       f"be one of: single, no (dual needs the ipmitool interfaces)")
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
            invalid.append(f"{name} '{_shown(raw)}' is not a number")
            continue
        if not 0 <= number <= top:
            invalid.append(f"{name} '{_shown(raw)}' is out of range 0-{top:#x}")
            continue
        values.append(number)
    local = info.get("ipmi_local_address")
    if local is not None:
        try:
            local_ok = _strtol(local) == BMC_IPMB_ADDRESS
        except ValueError:
            local_ok = False
        if not local_ok:
            invalid.append(f"ipmi_local_address '{_shown(local)}': native-ipmi bridges from the "
                           f"BMC's own IPMB address {BMC_IPMB_ADDRESS:#x} only; " + _USE_IPMITOOL)
    return (values[0], values[1]) if len(values) == 2 else None


def _is_boolean(value: Any) -> bool:
    """Unset, a bool, or what Ironic's strutils.bool_from_string reads (strictly) as one."""
    if value is None or isinstance(value, bool):
        return True
    text = _as_text(value)
    if text is None:
        return False
    try:
        strutils.bool_from_string(text, strict=True)
    except ValueError:
        return False
    return True


def _check_flags(info: dict, invalid: list[str]) -> None:
    """Boolean fields the interfaces read later: refuse what is neither true nor false.

    ipmitool's interfaces read anything unknown as false; a typo should not
    silently turn a feature off, and a list must not reach strutils.
    """
    for name in _FLAGS:
        if not _is_boolean(info.get(name)):
            invalid.append(f"{name} '{_shown(info[name])}' is not a boolean (use true or false)")


def _check_fields(node: Any, missing: list[str], invalid: list[str]) -> dict[str, Any]:
    """Check every field we or Ironic's parser read; record each problem, stop at none."""
    info = node.driver_info or {}
    _check_address(info, node.uuid, missing, invalid)
    if info.get("ipmi_port") is not None:
        _check_port(info["ipmi_port"], "ipmi_port", invalid)
    if info.get("ipmi_terminal_port"):  # falsy: Ironic uses the allocated one
        _check_port(info["ipmi_terminal_port"], "ipmi_terminal_port", invalid)
    _check_protocol_version(info, invalid)
    _check_flags(info, invalid)
    return {
        "username": _username(info, invalid),
        "password": _password(info, node.uuid, invalid),
        "priv_level": _priv_level(info, invalid),
        "cipher_suite": _cipher_suite(info, invalid),
        "kg": _kg(info, invalid),
        "bridge": _bridge(info, missing, invalid),
    }


def _invalid(problems: list[str]) -> exception.InvalidParameterValue:
    return exception.InvalidParameterValue(
        f"Invalid IPMI driver_info for native-ipmi: {'; '.join(p.rstrip('.') for p in problems)}.")


def _ironic_parse(node: Any) -> dict[str, Any]:
    """Ironic's parser for everything else, exactly as ipmitool reads it.

    It would run the ipmitool binary to check bridging support, so it gets a
    copy without ipmi_bridging (checked already).
    """
    info = dict(node.driver_info)
    info.pop("ipmi_bridging", None)
    shadow = types.SimpleNamespace(uuid=node.uuid, driver_info=info,
                                   driver_internal_info=node.driver_internal_info or {})
    try:
        return ipmitool._parse_driver_info(shadow)
    except (TypeError, ValueError) as e:  # our checks should have refused it first
        LOG.warning("Ironic's IPMI driver_info parser failed for node %(node)s: %(error)s",
                    {"node": node.uuid, "error": type(e).__name__})
        raise _invalid(["a value has the wrong type or form"]) from None


def parse_driver_info(node: Any) -> BmcCredentials:
    """Credentials for ``node``; every bad field is reported in one exception.

    :raises: MissingParameterValue when only required fields are missing.
    :raises: InvalidParameterValue for any invalid field (listing all problems).
    """
    missing: list[str] = []
    invalid: list[str] = []
    ours = _check_fields(node, missing, invalid)
    if invalid:
        raise _invalid(invalid + [f"{name} is missing" for name in missing])
    if missing:
        raise exception.MissingParameterValue(
            f"Missing the following IPMI credentials in node's driver_info: {missing}.")
    parsed = _ironic_parse(node)
    try:
        return BmcCredentials(address=parsed["address"], port=parsed["dest_port"] or 623, **ours)
    except ValueError as e:  # BmcCredentials' own checks: one line, no secret
        raise _invalid([str(e)]) from None
