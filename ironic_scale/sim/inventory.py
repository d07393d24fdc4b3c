"""The fleet inventory: which BMC listens where, with which credentials.

Written by the simulator as JSON lines and read by every other command, the
same format an operator writes for real BMCs (``--inventory FILE``).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass
from pathlib import Path

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
LOOPBACK6 = ipaddress.IPv6Address("::1")


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    port: int
    username: str
    password: str
    power: str = "off"  # initial power state: "on" or "off"
    dead: bool = False
    slow: bool = False

    @property
    def key(self) -> str:
        """How the control channel names this BMC (an IPv6 address in brackets)."""
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


def loopback_addresses(base: str, count: int) -> list[str]:
    """``count`` addresses from ``base`` on, skipping .0 and .255, all in 127/8; or ``::1``.

    IPv6 has one loopback address: BMCs there differ by port (``--per-port``).
    """
    start = ipaddress.ip_address(base)
    if start.version == 6:
        if start != LOOPBACK6:
            raise ValueError(f"address {base} is not on loopback (::1): the simulator only "
                             "listens on loopback")
        if count > 1:
            raise ValueError("IPv6 has one loopback address, ::1: put its BMCs on consecutive "
                             "ports (--per-port)")
        return [str(start)]
    if start not in LOOPBACK:
        raise ValueError(f"address {base} is not on loopback (127.0.0.0/8): the simulator "
                         "only listens on loopback")
    out, ip = [], int(start)
    while len(out) < count:
        if ip & 0xFF not in (0, 0xFF):
            out.append(str(ipaddress.ip_address(ip)))
        ip += 1
        if ipaddress.ip_address(ip) not in LOOPBACK:
            raise ValueError(f"{count} addresses from {base} do not fit in 127.0.0.0/8")
    return out


def write(path: str | Path, endpoints: list[Endpoint]) -> None:
    tmp = Path(f"{path}.tmp")
    with tmp.open("w") as f:
        for ep in endpoints:
            f.write(json.dumps(asdict(ep)) + "\n")
    tmp.replace(path)  # readers never see half a file


def read(path: str | Path) -> list[Endpoint]:
    """Read JSON lines; a bad line is an error naming the file and line."""
    out = []
    with Path(path).open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out.append(Endpoint(
                    address=str(rec["address"]), port=int(rec.get("port", 623)),
                    username=str(rec["username"]), password=str(rec["password"]),
                    power=str(rec.get("power", "off")), dead=bool(rec.get("dead", False)),
                    slow=bool(rec.get("slow", False))))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: bad inventory line: {e!r}") from None
    return out
