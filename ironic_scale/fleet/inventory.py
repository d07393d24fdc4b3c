"""Read and check a fleet inventory (CSV or JSON lines) before anything is created in Ironic.

Every row is checked and every problem is reported with its line and field, so an operator
fixes the whole file in one pass instead of meeting one error per run, half-way through a
fleet. Each field is read as Ironic reads it (``inventory_fields``), so a row that passes
here is not refused by the API for its syntax; duplicates within the file are found here.

The simulator's inventory (``ironic-scale sim run``: JSON lines with address, port,
username, password, power) is an inventory too: without ``running``, ``power: "on"`` means
running (adopted, never power-cycled) and ``"off"`` idle; without ``name`` a node is named
``node-<address>-<port>``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.fleet.errors import FleetError
from ironic_scale.fleet.inventory_fields import ALIASES, DRIVERS, IGNORED, read_fields

__all__ = ["ALIASES", "DRIVERS", "IGNORED", "Inventory", "NodeSpec", "Problem", "read"]


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

def check_row(line: int, raw: dict[str, Any], default_driver: str = "ipmi"
              ) -> tuple[dict[str, Any], list[Problem]]:
    """The NodeSpec fields of one row (those that could be read) and every problem of the row."""
    values, problems = read_fields(raw, default_driver)
    if "address" in values and "port" in values and "name" in values and values["name"] is None:
        values["name"] = default_name(values["address"], values["port"])
    return values, [Problem(line, field, why) for field, why in problems]


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
