"""Progress of a long fleet run: a bar on a terminal, a plain line every few seconds otherwise.

tqdm draws the bar; in CI and in log files (no terminal) a bar is noise, so there the
``done/total`` lines of ``bench.progress`` are printed instead.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Bar:
    """``update()`` from any thread; ``close()`` prints the final count."""

    def __init__(self, total: int, what: str, stream: TextIO | None = None, interval: float = 10.0,
                 quiet: bool = False):
        self.total, self.what, self.interval, self.quiet = total, what, interval, quiet
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._done = 0
        self._started = self._last = time.monotonic()
        self._tqdm = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, desc=what, unit="node", file=self.stream, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        with self._lock:
            self._done += n
            if self._tqdm is not None:
                self._tqdm.update(n)
                return
            now = time.monotonic()
            if self.quiet or now - self._last < self.interval:
                return
            self._last = now
            done, elapsed = self._done, now - self._started
        print(f"  {self.what}: {done}/{self.total} nodes, {elapsed:.0f} s", file=self.stream, flush=True)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        elif not self.quiet:
            print(f"  {self.what}: {self._done}/{self.total} nodes, "
                  f"{time.monotonic() - self._started:.0f} s", file=self.stream, flush=True)
