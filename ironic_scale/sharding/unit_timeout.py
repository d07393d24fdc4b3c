"""``TimeoutStopSec`` from systemd unit files and drop-ins, as systemd reads it.

Files are applied in the order given (the unit, then its drop-ins): the last
``TimeoutStopSec=`` or ``TimeoutSec=`` (which sets start and stop) in a
``[Service]`` section wins, an empty assignment resets to the default, and with
no assignment systemd uses ``DefaultTimeoutStopSec`` (90 s unless system.conf
changes it). Values are systemd time spans: ``90``, ``1min 30s``, ``2m30s``,
``500ms``, ``infinity``; ``0`` also means no timeout for these settings
(systemd parses them with ``config_parse_sec_fix_0``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from ironic_scale.sharding.confload import ConfigError

DEFAULT_TIMEOUT_STOP = 90.0  # systemd's DefaultTimeoutStopSec

# systemd's time units (src/basic/time-util.c), in seconds.
_UNITS = {
    **dict.fromkeys(("usec", "us", "μs", "µs"), 1e-6),
    **dict.fromkeys(("msec", "ms"), 1e-3),
    **dict.fromkeys(("", "seconds", "second", "sec", "s"), 1.0),
    **dict.fromkeys(("minutes", "minute", "min", "m"), 60.0),
    **dict.fromkeys(("hours", "hour", "hr", "h"), 3600.0),
    **dict.fromkeys(("days", "day", "d"), 86400.0),
    **dict.fromkeys(("weeks", "week", "w"), 604800.0),
    **dict.fromkeys(("months", "month", "M"), 2629800.0),
    **dict.fromkeys(("years", "year", "y"), 31557600.0),
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([^\d\s.]*)")


def parse_timespan(text: str) -> float:
    """A systemd time span in seconds; ``infinity`` is ``math.inf``. Raises ValueError."""
    value = text.strip()
    if value == "infinity":
        return math.inf
    if not value:
        raise ValueError("empty time span")
    total, pos = 0.0, 0
    while pos < len(value):
        m = _PART.match(value, pos)
        if not m or m.end() == pos:
            raise ValueError(f"{text!r} is not a systemd time span")
        number, unit = m.groups()
        if unit not in _UNITS:
            raise ValueError(f"{text!r}: unknown time unit {unit!r}")
        total += float(number) * _UNITS[unit]
        pos = m.end()
        while pos < len(value) and value[pos].isspace():
            pos += 1
    return total


@dataclass(frozen=True)
class StopTimeout:
    """The effective stop timeout and where it came from."""

    seconds: float  # math.inf: systemd never kills
    source: str  # "FILE:LINE" of the deciding assignment, or "systemd's default"

    def describe(self) -> str:
        value = "infinity" if math.isinf(self.seconds) else f"{self.seconds:g} s"
        return f"TimeoutStopSec {value} ({self.source})"


def _logical_lines(text: str):
    """(line number, line) with backslash continuations joined and comments dropped."""
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line[0] in "#;"):
            continue
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield start, buf + line
        buf = ""
    if buf:
        yield start, buf


def stop_timeout(paths: list[str]) -> StopTimeout:
    """The ``TimeoutStopSec`` systemd applies to a unit made of ``paths`` (unit first, then drop-ins)."""
    result = StopTimeout(DEFAULT_TIMEOUT_STOP, "systemd's default")
    for path in paths:
        if not os.path.isfile(path):
            raise ConfigError(f"no such unit file: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read unit file {path}: {e}") from None
        section = ""
        for number, line in _logical_lines(text):
            if line.startswith("["):
                if not line.endswith("]"):
                    raise ConfigError(f"{path}:{number}: invalid section header {line!r}")
                section = line[1:-1]
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ConfigError(f"{path}:{number}: not KEY=VALUE: {line!r}")
            if section != "Service" or key.strip() not in ("TimeoutStopSec", "TimeoutSec"):
                continue
            where = f"{path}:{number}"
            if not value.strip():
                result = StopTimeout(DEFAULT_TIMEOUT_STOP, f"{where} resets it to systemd's default")
                continue
            try:
                seconds = parse_timespan(value)
            except ValueError as e:
                raise ConfigError(f"{where}: {key.strip()}: {e}") from None
            result = StopTimeout(math.inf if seconds == 0 else seconds, where)
    return result
