"""Power-sync cycles as Ironic logs them, read from the conductor's log file.

Ironic's own line (a debug message of ``ironic.conductor.manager``, enabled
alone by deploy/stack/ironic.conf) gives each cycle's end and runtime:
``Completed power state sync operation, evaluated N nodes with W workers in S
seconds``. Its "N nodes" is really the number of extra workers, so how many
nodes were polled comes from the simulator instead.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COMPLETED = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) .*Completed power state sync operation, "
    r"evaluated \d+ nodes with (?P<workers>\d+) workers in (?P<runtime>[\d.]+) seconds")


class CycleTimeout(RuntimeError):
    """No sync cycle completed in time (the log tail says why)."""


@dataclass(frozen=True)
class Cycle:
    start: float  # wall clock, seconds since the epoch
    end: float
    runtime: float  # Ironic's own measure
    workers: int


def parse_line(line: str) -> Cycle | None:
    m = COMPLETED.search(line)
    if not m:
        return None
    # oslo.log writes local time with milliseconds.
    end = datetime.datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    runtime = float(m["runtime"])
    return Cycle(start=end - runtime, end=end, runtime=runtime, workers=int(m["workers"]))


class CycleWatcher:
    """Follows one conductor log from where it was when created."""

    def __init__(self, log: Path):
        self.log = log
        self._offset = log.stat().st_size if log.exists() else 0
        self._partial = ""
        self._pending: list[Cycle] = []

    def poll(self) -> list[Cycle]:
        """Cycles completed since the last call."""
        if not self.log.exists():
            return []
        with open(self.log, errors="replace") as f:
            f.seek(self._offset)
            chunk = f.read()
            self._offset = f.tell()
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        return [c for c in map(parse_line, lines) if c]

    def next_cycle(self, timeout: float, alive: Callable[[], bool] | None = None) -> Cycle:
        """The next completed cycle, in order; blocks (polling every 0.2 s: the log is the only signal)."""
        deadline = time.monotonic() + timeout
        while True:
            self._pending += self.poll()
            if self._pending:
                return self._pending.pop(0)
            if alive is not None and not alive():
                raise CycleTimeout(f"the conductor exited while waiting for a sync cycle ({self.log})")
            if time.monotonic() > deadline:
                raise CycleTimeout(f"no power sync cycle completed in {timeout:.0f} s ({self.log})")
            time.sleep(0.2)
