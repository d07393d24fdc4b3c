"""The machines to deploy on and how many conductors each runs: ``MACHINE[=N]`` from flags or a file."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class HostSpec:
    machine: str  # the name or address other services reach it by; [DEFAULT]host of its instances
    count: int  # conductor processes on it


def check_machine(machine: str) -> str:
    """``machine`` if it is an IP address or a DNS host name, else ValueError saying why.

    ``_`` and ``%`` are refused although Ironic accepts them: it clears a stopped
    conductor's locks with ``reservation ILIKE hostname``, where they are wildcards
    and would clear other conductors' locks too (db/sqlalchemy/api.py).
    """
    try:
        ipaddress.ip_address(machine)
        return machine
    except ValueError:
        pass
    if "_" in machine or "%" in machine:
        raise ValueError(f"host {machine!r}: '_' and '%' are LIKE wildcards in Ironic's lock clearing; "
                         "use a name without them")
    if not machine or len(machine) > 253 or not all(_LABEL.match(x) for x in machine.rstrip(".").split(".")):
        raise ValueError(f"host {machine!r} is neither an IP address nor a DNS host name")
    return machine


def parse_host(text: str, per_host: int | None) -> HostSpec:
    """``MACHINE`` (with ``per_host`` conductors) or ``MACHINE=N``."""
    machine, sep, count = text.strip().partition("=")
    machine = check_machine(machine.strip())
    if sep:
        if not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"host {text!r}: N in MACHINE=N must be a whole number of at least 1")
        n = int(count)
    elif per_host is None:
        raise ValueError(f"host {text!r} has no count: write {machine}=N or give --per-host N")
    else:
        n = per_host
    return HostSpec(machine, n)


def read_hosts_file(path: str | Path) -> list[str]:
    """One ``MACHINE[=N]`` per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise ValueError(f"hosts file {path}: {e.strerror or e}") from None
    entries = [line.split("#", 1)[0].strip() for line in lines]
    return [e for e in entries if e]


def parse_hosts(entries: Iterable[str], per_host: int | None) -> list[HostSpec]:
    """Every entry parsed; refuses an empty list and machines named twice (case-blind, as DNS is)."""
    specs = [parse_host(e, per_host) for e in entries]
    if not specs:
        raise ValueError("no hosts given: use --host MACHINE[=N] or --hosts-file FILE")
    seen: dict[str, str] = {}
    for s in specs:
        key = s.machine.lower().rstrip(".")
        if key in seen:
            raise ValueError(f"host {s.machine!r} is listed twice (as {seen[key]!r} too)")
        seen[key] = s.machine
    return specs
