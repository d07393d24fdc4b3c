"""Errors of the IPMI client. Messages never contain passwords or Kg keys."""

from __future__ import annotations

from pyghmi.ipmi.private import constants


class IPMIError(Exception):
    """Base: any failure talking to one BMC."""

    code: int | None = None


class BMCTimeout(IPMIError):
    """The BMC did not answer before the deadline (dead, unreachable, or too slow)."""


class LoginFailed(IPMIError):
    """RMCP+ session establishment was refused: credentials, slots, cipher suite."""


class CommandFailed(IPMIError):
    """The BMC answered with a non-zero completion code."""

    def __init__(self, netfn: int, cmd: int, code: int):
        self.netfn, self.cmd, self.code = netfn, cmd, code
        # pyghmi's tables hold the IPMI v2.0 completion-code texts (table 5-2).
        text = (constants.command_completion_codes.get((netfn | 1, cmd), {}).get(code)
                or constants.ipmi_completion_codes.get(code, "unknown error"))
        super().__init__(f"BMC returned completion code 0x{code:02X} ({text}) "
                         f"for netfn 0x{netfn:02X} command 0x{cmd:02X}")


def rmcp_status_text(status: int) -> str:
    """Text of an RMCP+ status code (table 13-15), from pyghmi's table."""
    return constants.rmcp_codes.get(status, f"unknown RMCP+ status 0x{status:02X}")
