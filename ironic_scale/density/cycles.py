"""Power-sync cycles as Ironic logs them, read from the conductor's log file.

Ironic's own line (a debug message of ``ironic.conductor.manager``, enabled
alone by deploy/stack/ironic.conf) gives each cycle's end and runtime:
``Completed power state sync operation, evaluated N nodes with W workers in S
seconds``. Its "N nodes" is really the number of extra workers, so how many
nodes were polled comes from the simulator instead.

Ironic with the ``patches/`` series and ``[conductor]bulk_power_sync`` also logs,
from the same logger, how the cycle sorted its nodes: ``Bulk power sync: 190 nodes
unchanged, 10 synced one by one (8 mismatched and 2 failed in the bulk read), 0
skipped`` (patches/0004). That wording is the patch's, not ours, and may change:
the parser looks for the words (unchanged, one by one or per-node, mismatched,
failed, skipped) next to each number, in either ``N word`` or ``word=N`` form,
and a cycle without such a line simply has no counts. Counts of every such line
since the previous cycle's end are summed. Ironic logs it before the cycle's
``Completed`` line, which with the series also prints the real node count.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COMPLETED = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) .*Completed power state sync operation, "
    r"evaluated \d+ nodes with (?P<workers>\d+) workers in (?P<runtime>[\d.]+) seconds")


BULK = re.compile(r"bulk power sync\b(?P<rest>.*)", re.IGNORECASE)
# oslo.log appends "function path:line" to debug lines: not a count.
_DEBUG_SUFFIX = re.compile(r"\s+\w+\s+\S+\.py:\d+\s*$")
_NUMBER = re.compile(r"\d+")
_KEY_BEFORE = re.compile(r"((?:[a-z][a-z_-]*\s?){1,3})[=:]\s*$", re.IGNORECASE)  # "unchanged=" N
_WORDS_AFTER = re.compile(r"\s*([a-z][a-z _-]*)", re.IGNORECASE)  # N "nodes unchanged"
# Node classes and the words that name them, tried in this order ("unchanged" holds "changed").
# patches/0004 logs "N nodes unchanged, M synced one by one (X mismatched and Y failed in the bulk
# read), Z skipped": mismatched and failed are among the M sent one by one.
CLASSES = (("unchanged", ("unchanged", "no change", "same")),
           ("mismatched", ("mismatch",)),
           ("per_node", ("one by one", "per-node", "per node", "per_node", "pernode", "changed", "slow")),
           ("skipped", ("skip",)),
           ("failed", ("fail", "error")))


class CycleTimeout(RuntimeError):
    """No sync cycle completed in time (the log tail says why)."""


@dataclass(frozen=True)
class Cycle:
    start: float  # wall clock, seconds since the epoch
    end: float
    runtime: float  # Ironic's own measure
    workers: int
    # From the patched Ironic's bulk-sync line(s), if any: {"unchanged": N, "per_node": M, ...}.
    classes: dict[str, int] | None = None
    bulk_line: str | None = None  # the last such line, as logged (the counts' source)


def parse_line(line: str) -> Cycle | None:
    m = COMPLETED.search(line)
    if not m:
        return None
    # oslo.log writes local time with milliseconds.
    end = datetime.datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    runtime = float(m["runtime"])
    return Cycle(start=end - runtime, end=end, runtime=runtime, workers=int(m["workers"]))


def _node_class(words: str) -> str | None:
    words = words.lower()
    for name, keys in CLASSES:
        if any(k in words for k in keys):
            return name
    return None


def parse_bulk_line(line: str) -> dict[str, int] | None:
    """Node classes counted by a bulk-sync line; None for any other line (or one with no counts)."""
    m = BULK.search(line)
    if not m:
        return None
    rest = _DEBUG_SUFFIX.sub("", m["rest"])
    counts: dict[str, int] = {}
    for number in _NUMBER.finditer(rest):
        # "key=N" / "key: N" is unambiguous; otherwise the words after the number name it.
        before = _KEY_BEFORE.search(rest, 0, number.start())
        after = _WORDS_AFTER.match(rest, number.end())
        name = (before and _node_class(before[1])) or (after and _node_class(after[1]))
        if name:
            counts[name] = counts.get(name, 0) + int(number[0])
    return counts or None


class CycleWatcher:
    """Follows one conductor log from where it was when created."""

    def __init__(self, log: Path):
        self.log = log
        self._offset = log.stat().st_size if log.exists() else 0
        self._partial = ""
        self._pending: list[Cycle] = []
        self._classes: dict[str, int] | None = None  # bulk-sync counts since the last cycle's end
        self._bulk_line: str | None = None

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
        cycles = []
        for line in lines:
            counts = parse_bulk_line(line)
            if counts is not None:
                seen = self._classes or {}
                self._classes = {k: seen.get(k, 0) + counts.get(k, 0)
                                 for k in dict.fromkeys([*seen, *counts])}
                self._bulk_line = line.strip()
            if (cycle := parse_line(line)) is not None:
                cycles.append(dataclasses.replace(cycle, classes=self._classes, bulk_line=self._bulk_line))
                self._classes = self._bulk_line = None
        return cycles

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
