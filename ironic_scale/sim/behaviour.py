"""Per-BMC behaviour knobs: latency, loss, death, session slots, settle times."""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass

from ironic_scale.sim import sdr

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)?\s*$")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}


def parse_duration(text: str | float | int) -> float:
    """'250ms', '2s', '50us' or a plain number of seconds -> seconds."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _DURATION.match(text)
        if not m:
            raise ValueError(f"invalid duration {text!r}: use e.g. 5ms, 0.2s or 0.2")
        value = float(m.group(1)) * _UNIT[m.group(2)]
    if value < 0:
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    return value


@dataclass(frozen=True, slots=True)
class Latency:
    """Response delay: fixed, or drawn per reply from a distribution."""

    kind: str = "fixed"  # fixed | uniform | normal | exp
    a: float = 0.0
    b: float = 0.0

    @classmethod
    def parse(cls, text: str | float) -> "Latency":
        """'5ms', 'uniform:1ms:10ms', 'normal:20ms:5ms' (mean, sd), 'exp:10ms' (mean)."""
        usage = f"invalid latency {text!r}: use 5ms, uniform:LO:HI, normal:MEAN:SD or exp:MEAN"
        kind, _, rest = str(text).partition(":")
        try:
            args = [parse_duration(x) for x in rest.split(":")] if rest else []
            if not rest:
                return cls("fixed", parse_duration(text))
        except ValueError:
            raise ValueError(usage) from None
        if kind == "uniform" and len(args) == 2 and args[0] <= args[1]:
            return cls(kind, *args)
        if kind == "normal" and len(args) == 2:
            return cls(kind, *args)
        if kind == "exp" and len(args) == 1:
            return cls(kind, args[0])
        raise ValueError(usage)

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "normal":
            return max(0.0, rng.gauss(self.a, self.b))
        return rng.expovariate(1.0 / self.a) if self.a else 0.0

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.a * 1000:g}ms"
        if self.kind == "exp":
            return f"exp:{self.a * 1000:g}ms"
        return f"{self.kind}:{self.a * 1000:g}ms:{self.b * 1000:g}ms"


@dataclass(slots=True)
class Behaviour:
    """How one simulated BMC misbehaves. Every field can be changed at run time."""

    latency: Latency = Latency()
    loss: float = 0.0  # fraction of requests dropped unanswered
    dead: bool = False  # answers nothing at all
    session_slots: int = 8  # real BMCs allow 4-15 sessions
    settle: float = 0.0  # seconds before a power action shows in the status
    session_timeout: float = 60.0  # idle seconds before a session is freed
    boot_flag_timeout: float = 60.0  # seconds before one-time boot flags lapse
    sdr_fault: str = ""  # a broken or hostile SDR repository (sdr.SDR_FAULTS); "" healthy
    reset_downtime: float = 0.5  # seconds a BMC Cold Reset leaves the BMC silent (sessions gone)
    silent_cold_reset: bool = False  # reset without answering the Cold Reset (as many BMCs do)
    # False: Get System Boot Options answers byte 1 of the boot flags (valid,
    # persistent, EFI) as 0 while still booting as told, like OpenIPMI ipmi_sim.
    boot_flags_byte1: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"invalid loss {self.loss!r}: must be between 0 and 1")
        if self.session_slots < 1:
            raise ValueError(f"invalid session_slots {self.session_slots!r}: must be at least 1")

    def changed(self, **changes: object) -> "Behaviour":
        """A copy with some knobs changed, each given as CLI/JSON text or value."""
        parsed: dict[str, object] = {}
        for key, value in changes.items():
            if key == "latency":
                parsed[key] = Latency.parse(value)  # type: ignore[arg-type]
            elif key in ("settle", "session_timeout", "boot_flag_timeout", "reset_downtime"):
                parsed[key] = parse_duration(value)  # type: ignore[arg-type]
            elif key == "loss":
                parsed[key] = float(value)  # type: ignore[arg-type]
            elif key in ("dead", "silent_cold_reset", "boot_flags_byte1"):
                parsed[key] = bool(value)
            elif key == "session_slots":
                parsed[key] = int(value)  # type: ignore[call-overload]
            elif key == "sdr_fault":
                parsed[key] = sdr.check_fault(str(value))
            else:
                raise ValueError(f"unknown behaviour knob {key!r}")
        return dataclasses.replace(self, **parsed)

    def describe(self) -> dict[str, object]:
        return {
            "latency": str(self.latency), "loss": self.loss, "dead": self.dead,
            "session_slots": self.session_slots, "settle": self.settle,
            "session_timeout": self.session_timeout, "boot_flag_timeout": self.boot_flag_timeout,
            "sdr_fault": self.sdr_fault, "reset_downtime": self.reset_downtime,
            "silent_cold_reset": self.silent_cold_reset, "boot_flags_byte1": self.boot_flags_byte1,
        }
