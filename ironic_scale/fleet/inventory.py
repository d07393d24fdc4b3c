"""Read and check a fleet inventory (CSV or JSON lines) before anything is created in Ironic.

Every row is checked and every problem is reported with its line and field, so an operator
fixes the whole file in one pass instead of meeting one error per run, half-way through a
fleet. Values are read as Ironic reads them (oslo.utils for MACs, addresses and booleans;
Ironic's own rules for node names, conductor groups and resource classes, quoted below), so
a row that passes here is not refused by the API for its syntax.

The simulator's inventory (``ironic-scale sim run``: JSON lines with address, port,
username, password, power) is an inventory too: without ``running``, ``power: "on"`` means
running (adopted, never power-cycled) and ``"off"`` idle; without ``name`` a node is named
``node-<address>-<port>``.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.fleet.errors import FleetError
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


@dataclass(frozen=True)
class Problem:
    """One reason a row cannot be imported: where (line, field) and why."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class NodeSpec:
    """One machine of the inventory, checked: what its Ironic node will be."""

    line: int
    name: str
    address: str
    port: int
    username: str
    password: str = field(repr=False)
    macs: tuple[str, ...]
    running: bool
    driver: str
    resource_class: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    conductor_group: str | None = None
    automated_clean: bool | None = None

    @property
    def target(self) -> str:
        """The provision state the import ends in: running machines are adopted, idle ones provided."""
        return "active" if self.running else "available"

    @property
    def bmc(self) -> str:
        return bmc_key(self.address, self.port)

    def driver_info(self) -> dict[str, Any]:
        """The same keys Ironic's ipmitool interfaces read, so the node can switch drivers untouched."""
        info: dict[str, Any] = {"ipmi_address": self.address, "ipmi_port": self.port,
                                "ipmi_password": self.password}
        if self.username:
            info["ipmi_username"] = self.username
        return info


@dataclass
class Inventory:
    """The checked rows (``nodes``) and every problem of the others, in file order."""

    path: Path
    nodes: list[NodeSpec]
    problems: list[Problem]
    rows: int = 0

    @property
    def bad_lines(self) -> list[int]:
        return sorted({p.line for p in self.problems})


def bmc_key(address: str, port: int) -> str:
    """``address:port``, with an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def default_name(address: str, port: int) -> str:
    """``node-<address>-<port>``: unique per BMC and a valid node name (an IPv6 address's ':' become '-')."""
    return f"node-{address.replace(':', '-')}-{port}"


def read(path: str | Path, default_driver: str = "ipmi") -> Inventory:
    """Check the whole file; rows with any problem are left out of ``nodes`` and listed in ``problems``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise FleetError(f"cannot read inventory {path}: {getattr(e, 'strerror', None) or e}") from None
    problems: list[Problem] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    rows = 0
    for line, raw in records(path, text):
        if isinstance(raw, Problem):
            problems.append(raw)
            continue
        rows += 1
        values, row_problems = check_row(line, raw, default_driver)
        problems.extend(row_problems)
        parsed.append((line, values))
    problems.extend(duplicates(parsed))
    if not parsed and not problems:
        raise FleetError(f"inventory {path} has no nodes")
    bad = {p.line for p in problems}
    nodes = [NodeSpec(line=line, **values) for line, values in parsed if line not in bad]
    problems.sort(key=lambda p: (p.line, p.field))
    return Inventory(path=path, nodes=nodes, problems=problems, rows=rows)


def is_csv(path: Path, text: str) -> bool:
    """By suffix; otherwise JSON lines start with '{'."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return True
    if suffix in (".jsonl", ".json", ".ndjson"):
        return False
    return not text.lstrip().startswith("{")


def records(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    """(line, raw row) for every row of a CSV or JSON-lines text; unreadable rows as a Problem."""
    if not is_csv(path, text):
        for line, row in enumerate(text.splitlines(), 1):
            if not row.strip():
                continue
            try:
                rec = json.loads(row)
            except json.JSONDecodeError as e:
                yield line, Problem(line, "-", f"not JSON: {e.msg} (column {e.colno})")
                continue
            if not isinstance(rec, dict):
                yield line, Problem(line, "-", f"a JSON line must be an object, not {type(rec).__name__}")
                continue
            yield line, rec
        return
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.reader(io.StringIO(text), dialect=dialect)
    header: list[str] | None = None
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            continue
        if len(cells) > len(header):
            yield line, Problem(line, "-", f"{len(cells)} values for {len(header)} columns")
            continue
        # An empty cell is a value left out, as if the column were not there.
        yield line, {k: v for k, v in zip(header, cells, strict=False) if v.strip()}
    if header is None:
        yield 1, Problem(1, "-", "no header line (the CSV's first line names its columns)")


def _key(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def check_row(line: int, raw: dict[str, Any], default_driver: str = "ipmi"
              ) -> tuple[dict[str, Any], list[Problem]]:
    """The NodeSpec fields of one row (those that could be read) and every problem of the row."""
    problems: list[Problem] = []

    def bad(fieldname: str, message: str) -> None:
        problems.append(Problem(line, fieldname, message))

    row: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in raw.items():
        k = _key(key)
        if k in IGNORED or value is None:
            continue
        name = _CANONICAL.get(k)
        if name is None:
            bad(str(key), "unknown field (known: " + ", ".join(ALIASES) + ")")
        elif name in row:
            bad(str(key), f"given twice (also as {given_as[name]!r})")
        else:
            row[name], given_as[name] = value, str(key)

    values: dict[str, Any] = {}
    for name, reader in _READERS.items():
        try:
            values[name] = reader(row, default_driver)
        except _Bad as e:
            where = e.field or name
            bad(given_as.get(where, where), str(e))
    if "address" in values and "port" in values and "name" in values and values["name"] is None:
        values["name"] = default_name(values["address"], values["port"])
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


def duplicates(parsed: list[tuple[int, dict[str, Any]]]) -> list[Problem]:
    """Every row sharing a name (any case), a MAC or a BMC address:port with another row.

    All rows of a clash are reported: which of them is right is the operator's call, not ours.
    """
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for line, values in parsed:
        if values.get("name"):
            seen["name", values["name"].lower()].append(line)
        for mac in values.get("macs") or ():
            seen["macs", mac].append(line)
        if "address" in values and "port" in values:
            seen["address", bmc_key(values["address"], values["port"])].append(line)
    out = []
    for (fieldname, value), lines in seen.items():
        if len(lines) < 2:
            continue
        what = {"name": "name", "macs": "MAC", "address": "BMC"}[fieldname]
        for line in lines:
            others = ", ".join(str(o) for o in lines if o != line)
            out.append(Problem(line, fieldname, f"{what} {value} is also on line {others}"))
    return out
