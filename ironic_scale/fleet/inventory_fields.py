"""One inventory row's fields, read as Ironic reads them: the values or, per field, why not.

oslo.utils parses MACs, addresses and booleans (as Ironic's API does); node names, conductor
groups and resource classes follow Ironic's own rules, quoted below (Ironic itself is not
needed on the operator's machine, only its REST API). Every field of a row is read, so a row
reports all its problems at once.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from ironic_scale.ipmi.credentials import MAX_ADDRESS_CHARS, MAX_PASSWORD_BYTES, MAX_USERNAME_BYTES

DRIVERS = ("ipmi", "native-ipmi")
DEFAULT_PORT = 623
# Every field an inventory may have, and the other names it may have it under (Ironic's
# driver_info keys, the BMC's). The simulator's own test knobs are accepted and ignored.
ALIASES: dict[str, tuple[str, ...]] = {
    "address": ("bmc_address", "ipmi_address"),
    "port": ("bmc_port", "ipmi_port"),
    "username": ("bmc_username", "ipmi_username"),
    "password": ("bmc_password", "ipmi_password"),
    "macs": ("mac", "mac_address", "mac_addresses"),
    "name": (),
    "resource_class": (),
    "properties": (),
    "cpus": (),
    "memory_mb": (),
    "local_gb": (),
    "cpu_arch": (),
    "running": (),
    "power": (),
    "conductor_group": (),
    "driver": (),
    "automated_clean": (),
}
IGNORED = ("dead", "slow")
_CANONICAL = {alias: name for name, aliases in ALIASES.items() for alias in (name, *aliases)}
_INT_PROPERTIES = ("cpus", "memory_mb", "local_gb")
# Ironic's rules (ironic/common/utils.py): node names are RFC 3986 unreserved characters, at
# most 255, and not UUID-like (api/controllers/v1/utils.py is_valid_node_name); conductor
# groups match validate_conductor_group and are lowercased by the API; resource_class has
# maxLength 80 in the API's node schema.
_LOGICAL_NAME = re.compile(r"^[A-Z0-9-._~]+$", re.I)
_CONDUCTOR_GROUP = re.compile(r"^[a-zA-Z0-9_\-\.]*$")
_MAX_NAME, _MAX_GROUP, _MAX_RESOURCE_CLASS = 255, 255, 80
# What ipmitool (and our driver's resolver) may be given instead of an address: an RFC 1123 host name.
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.I)
_MAC_SPLIT = re.compile(r"[\s;,]+")


def _key(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def read_fields(raw: dict[str, Any], default_driver: str = "ipmi"
                ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The NodeSpec fields of one row that could be read, and (field, why) for every other.

    ``name`` is None when the row has none (the caller names it after its BMC).
    """
    problems: list[tuple[str, str]] = []
    row: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in raw.items():
        k = _key(key)
        if k in IGNORED or value is None:
            continue
        name = _CANONICAL.get(k)
        if name is None:
            problems.append((str(key), "unknown field (known: " + ", ".join(ALIASES) + ")"))
        elif name in row:
            problems.append((str(key), f"given twice (also as {given_as[name]!r})"))
        else:
            row[name], given_as[name] = value, str(key)

    values: dict[str, Any] = {}
    for name, reader in _READERS.items():
        try:
            values[name] = reader(row, default_driver)
        except _Bad as e:
            where = e.field or name
            problems.append((given_as.get(where, where), str(e)))
    return values, problems


class _Bad(ValueError):
    """One field's problem; ``field`` when it is not the field being read (e.g. ``power`` for running)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


def _text(value: Any, what: str = "a string") -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad(f"must be {what}, not {type(value).__name__}")
    return str(value).strip()


def _bool(value: Any) -> bool:
    from oslo_utils import strutils

    if isinstance(value, bool):
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return strutils.bool_from_string(str(value).strip(), strict=True)
        except ValueError:
            pass
    raise _Bad(f"not true or false: {value!r}")


def _int(value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise _Bad(f"not a number: {value!r}")
    if isinstance(value, str) and re.fullmatch(r"\s*[+]?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low}-{high}" if high is not None else f">= {low}"
        raise _Bad(f"not a whole number {span}: {value!r}")
    return value


def _utf8_limit(text: str, limit: int) -> str:
    if len(text.encode()) > limit:
        raise _Bad(f"longer than {limit} bytes (the IPMI 2.0 limit)")
    return text


def _address(row: dict[str, Any], _: str) -> str:
    if "address" not in row:
        raise _Bad("missing: the BMC's IP address or host name")
    text = _text(row["address"])
    if not text:
        raise _Bad("empty")
    from oslo_utils import netutils

    if netutils.is_valid_ipv4(text, strict=True):
        return str(ipaddress.IPv4Address(text))
    if netutils.is_valid_ipv6(text.strip("[]")):
        return str(ipaddress.IPv6Address(text.strip("[]")))
    host = text.rstrip(".")
    if (len(text) <= MAX_ADDRESS_CHARS and not re.fullmatch(r"[\d.]+", host)
            and all(_HOST_LABEL.match(label) for label in host.split("."))):
        return host.lower()
    raise _Bad(f"not an IP address or host name: {text[:60]!r}")


def _port(row: dict[str, Any], _: str) -> int:
    return _int(row["port"], 1, 65535) if "port" in row else DEFAULT_PORT


def _username(row: dict[str, Any], _: str) -> str:
    return _utf8_limit(_text(row.get("username", "")), MAX_USERNAME_BYTES)


def _password(row: dict[str, Any], _: str) -> str:
    if "password" not in row:
        raise _Bad("missing: the BMC password")
    if not isinstance(row["password"], str):  # a number would lose leading zeros
        raise _Bad(f"must be a string, not {type(row['password']).__name__}")
    return _utf8_limit(row["password"], MAX_PASSWORD_BYTES)


def _macs(row: dict[str, Any], _: str) -> tuple[str, ...]:
    from oslo_utils import netutils

    value = row.get("macs", [])
    items = value if isinstance(value, list) else _MAC_SPLIT.split(_text(value))
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise _Bad(f"a MAC must be a string, not {type(item).__name__}")
        if not item.strip():
            continue
        mac = item.strip().lower()
        if not netutils.is_valid_mac(mac):
            raise _Bad(f"not a MAC address (six colon-separated hex octets): {item[:40]!r}")
        if mac in out:
            raise _Bad(f"{mac} listed twice")
        out.append(mac)
    return tuple(out)


def _name(row: dict[str, Any], _: str) -> str | None:
    if "name" not in row:
        return None  # node-<address>-<port>, once both are known
    from oslo_utils import uuidutils

    text = _text(row["name"])
    if not text or len(text) > _MAX_NAME or not _LOGICAL_NAME.match(text):
        raise _Bad(f"not a valid node name (letters, digits, '-._~', at most {_MAX_NAME}): {text[:60]!r}")
    if uuidutils.is_uuid_like(text):
        raise _Bad("a node name must not look like a UUID")
    return text


def _resource_class(row: dict[str, Any], _: str) -> str | None:
    if "resource_class" not in row:
        return None
    text = _text(row["resource_class"])
    if len(text) > _MAX_RESOURCE_CLASS:
        raise _Bad(f"longer than {_MAX_RESOURCE_CLASS} characters")
    return text or None


def _properties(row: dict[str, Any], _: str) -> dict[str, Any]:
    props = row.get("properties", {})
    if isinstance(props, str):
        try:
            props = json.loads(props)
        except json.JSONDecodeError as e:
            raise _Bad(f"not a JSON object: {e.msg}") from None
    if not isinstance(props, dict):
        raise _Bad(f"must be a JSON object, not {type(props).__name__}")
    props = dict(props)
    for key in (*_INT_PROPERTIES, "cpu_arch"):
        if key not in row:
            continue
        try:
            value = _int(row[key], 0) if key in _INT_PROPERTIES else _text(row[key])
        except _Bad as e:
            raise _Bad(str(e), field=key) from None
        if key in props and props[key] != value:
            raise _Bad(f"{key} is {props[key]!r} in properties but {value!r} in its own field", field=key)
        props[key] = value
    return props


def _running(row: dict[str, Any], _: str) -> bool:
    if "running" in row:
        return _bool(row["running"])
    if "power" in row:  # the simulator's inventory: a powered-on machine is taken as running
        power = _text(row["power"]).lower()
        if power not in ("on", "off"):
            raise _Bad(f"must be on or off: {row['power']!r}", field="power")
        return power == "on"
    raise _Bad("missing: say whether the machine runs a workload (true: adopted untouched; "
               "false: provided, which cleans it when the cloud cleans)")


def _driver(row: dict[str, Any], default_driver: str) -> str:
    driver = _text(row.get("driver", default_driver)).lower()
    if driver not in DRIVERS:
        raise _Bad(f"must be one of {', '.join(DRIVERS)}: {driver!r}")
    return driver


def _conductor_group(row: dict[str, Any], _: str) -> str | None:
    if "conductor_group" not in row:
        return None
    text = _text(row["conductor_group"])
    if len(text) > _MAX_GROUP or not _CONDUCTOR_GROUP.match(text):
        raise _Bad(f"not a conductor group (letters, digits, '_-.'): {text[:60]!r}")
    return text.lower() or None


def _automated_clean(row: dict[str, Any], _: str) -> bool | None:
    return _bool(row["automated_clean"]) if "automated_clean" in row else None


_READERS = {
    "address": _address, "port": _port, "username": _username, "password": _password, "macs": _macs,
    "name": _name, "resource_class": _resource_class, "properties": _properties, "running": _running,
    "driver": _driver, "conductor_group": _conductor_group, "automated_clean": _automated_clean,
}
