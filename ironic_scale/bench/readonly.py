"""What the bench may send to a BMC: reads only, enforced in code.

The bench runs against real BMCs (``--inventory``), so it must never change a
host's power or boot settings, even through a bug. Every request the bench
builds passes through here: engine requests (``ReadOnlyEngine``), stock pyghmi
raw commands (``raw_readonly``) and forked tool command lines
(``check_tool_argv``). Session commands (login, keepalive, logout) are the
engine's and the tools' own business and never go through these paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine

# (netfn, cmd): the only requests the bench itself ever issues.
ALLOWED_COMMANDS = {(0x00, 0x01): "Get Chassis Status", (0x06, 0x01): "Get Device ID"}

# ipmitool options (each takes one value) the bench uses; the command must be "power status".
_IPMITOOL_OPTIONS = {"-I", "-H", "-L", "-p", "-U", "-R", "-N", "-f"}
# ipmipower options with one value; the only action allowed is --stat.
_IPMIPOWER_OPTIONS = {"-D", "-h", "-u", "-p", "--config-file", "--session-timeout"}


class ReadOnlyViolation(ValueError):
    """The bench tried to build a request that is not a read. Always a bug."""


def check_command(netfn: int, cmd: int) -> None:
    """Refuse any IPMI request other than Get Chassis Status and Get Device ID."""
    if (netfn, cmd) not in ALLOWED_COMMANDS:
        raise ReadOnlyViolation(f"refused IPMI request netfn 0x{netfn:02x} cmd 0x{cmd:02x}: the "
                                "bench only sends Get Chassis Status and Get Device ID")


class ReadOnlyEngine:
    """An Engine that only forwards reads; the bench's pollers get this, never the Engine.

    Deliberately no ``__getattr__`` pass-through: anything not defined here is
    not reachable through the wrapper.
    """

    def __init__(self, engine: Engine):
        self._engine = engine

    def submit(self, creds: BmcCredentials, netfn: int, cmd: int, data: bytes = b"",
               timeout: float = 10.0, lun: int = 0) -> Future:
        check_command(netfn, cmd)
        return self._engine.submit(creds, netfn, cmd, data, timeout, lun)

    def call(self, creds: BmcCredentials, netfn: int, cmd: int, data: bytes = b"",
             timeout: float = 10.0, lun: int = 0) -> bytes:
        check_command(netfn, cmd)
        return self._engine.call(creds, netfn, cmd, data, timeout, lun)

    def submit_many(self, creds: Sequence[BmcCredentials], netfn: int, cmd: int, data: bytes = b"",
                    timeout: float = 10.0, window: int = 512, lun: int = 0) -> Future:
        check_command(netfn, cmd)
        return self._engine.submit_many(creds, netfn, cmd, data, timeout, window, lun)

    def close(self, creds: BmcCredentials) -> None:
        self._engine.close(creds)

    def stats(self) -> dict[str, Any]:
        return self._engine.stats()

    def shutdown(self) -> None:
        self._engine.shutdown()


def raw_readonly(command: Any, netfn: int, cmd: int, data: bytes = b"") -> dict[str, Any]:
    """``pyghmi.ipmi.command.Command.raw_command`` for reads only."""
    check_command(netfn, cmd)
    return command.raw_command(netfn, cmd, data=data)


def _options_only(args: Sequence[str], allowed: set[str], tool: str) -> None:
    if len(args) % 2:
        raise ReadOnlyViolation(f"refused {tool} command line: unpaired option in {list(args)}")
    for flag in args[::2]:
        if flag not in allowed:
            raise ReadOnlyViolation(f"refused {tool} command line: option {flag!r} is not allowed")


def check_tool_argv(argv: Sequence[str]) -> None:
    """Allow only ``ipmitool [options] power status`` and ``ipmipower [options] --stat``."""
    tool = os.path.basename(argv[0]) if argv else ""
    if tool == "ipmitool":
        if list(argv[-2:]) != ["power", "status"]:
            raise ReadOnlyViolation(f"refused ipmitool command {list(argv[-2:])}: only "
                                    "'power status' is allowed")
        _options_only(argv[1:-2], _IPMITOOL_OPTIONS, tool)
    elif tool == "ipmipower":
        if argv[-1] != "--stat":
            raise ReadOnlyViolation(f"refused ipmipower action {argv[-1]!r}: only --stat is allowed")
        _options_only(argv[1:-1], _IPMIPOWER_OPTIONS, tool)
    else:
        raise ReadOnlyViolation(f"refused to run {tool or argv!r}: only ipmitool and ipmipower")
