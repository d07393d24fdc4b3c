"""Progress lines on stderr, so a 7-minute ipmitool sweep does not look like a hang.

Plain lines, no dependency: a step line per sweep, and inside a long sweep at
most one "done/total" line every ``interval`` seconds (thread-safe: the
ipmitool workers tick from 8 threads).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, interval: float = 10.0):
        self.stream = stream or sys.stderr
        self.interval = interval
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last = self._started
        self._done = 0

    def note(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def begin(self, message: str) -> None:
        """A new step: print it and restart the tick clock and counter."""
        with self._lock:
            self._started = self._last = time.monotonic()
            self._done = 0
        self.note(message)

    def tick(self, what: str, total: int, n: int = 1) -> None:
        """``n`` more of ``total`` done; print at most every ``interval`` seconds."""
        with self._lock:
            self._done += n
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            done, elapsed = self._done, now - self._started
        self.note(f"      {what}: {done}/{total} nodes, {elapsed:.0f} s")


class Silent(Progress):
    """For library use and tests that do not want stderr output."""

    def note(self, message: str) -> None:
        pass
