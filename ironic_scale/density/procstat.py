"""CPU and memory of other processes (Ironic's workers, the simulator) from /proc.

CPU includes children the process has reaped (``cutime``/``cstime``), so a
conductor's forked ``ipmitool`` processes count against the conductor, as
they do on a real host.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid``; 0 if it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is fields[0]; utime..cstime are stat fields 14-17.
    return sum(int(x) for x in fields[11:15]) / _TICK


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


@dataclass
class Sample:
    at: float  # wall clock (time.time()), comparable with Ironic's log timestamps
    values: dict[str, float]  # CPU seconds per group, and any other counters
    rss: dict[str, int]


@dataclass
class Sampler:
    """Samples CPU and RSS of named process groups every ``interval`` s, in a thread.

    A sync cycle's CPU is then read at the cycle's own start and end times (from
    Ironic's log) by interpolating between samples, whatever the sync interval.
    """

    groups: Callable[[], dict[str, Sequence[int]]]  # name -> PIDs, re-read each sample
    interval: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    # Other monotonic counters sampled alike (e.g. database transactions), read with value_at().
    counters: Callable[[], dict[str, float]] | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="density-sampler", daemon=True)

    def start(self) -> "Sampler":
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> Sample:
        groups = self.groups()
        s = Sample(at=time.time(),
                   values={k: sum(cpu_seconds(p) for p in pids) for k, pids in groups.items()},
                   rss={k: sum(rss_bytes(p) for p in pids) for k, pids in groups.items()})
        if self.counters is not None:
            s.values.update(self.counters())
        with self._lock:
            self.samples.append(s)
        return s

    def value_at(self, group: str, at: float) -> float | None:
        """CPU seconds of ``group`` (or a counter) at wall time ``at``, interpolated.

        None after the last sample: what happens there is not known yet (reading a cycle's
        end before the next sample would give the last value, and a cycle 0 s of CPU). Just
        before the first sample (a cycle that began as sampling started), that sample.
        """
        with self._lock:
            samples = list(self.samples)
        if not samples or at > samples[-1].at:
            return None
        times = [s.at for s in samples]
        i = bisect_left(times, at)
        if i == 0:  # before the samples: the first one, if it is close
            near = samples[0]
            return near.values.get(group) if near.at - at <= 2 * self.interval else None
        a, b = samples[i - 1], samples[i]
        ca, cb = a.values.get(group), b.values.get(group)
        if ca is None or cb is None:
            return None
        return ca + (cb - ca) * (at - a.at) / (b.at - a.at)

    def wait_past(self, at: float) -> None:
        """Block until a sample taken after wall time ``at`` exists (the thread must be running)."""
        while self.samples[-1].at < at:
            time.sleep(self.interval / 2)

    def value_around(self, group: str, since: float, until: float) -> float | None:
        """How much counter ``group`` grew from the last sample at or before ``since`` to the first
        at or after ``until``: all of the window, plus at most one interval on each side; None if
        the samples do not reach that far.

        For counters that move in bursts (SQL statements of a sync cycle shorter than the
        interval), where interpolating between samples would cut the burst in parts.
        """
        with self._lock:
            samples = list(self.samples)
        before = [s for s in samples if s.at <= since]
        after = [s for s in samples if s.at >= until]
        if not before or not after:
            return None
        a, b = before[-1].values.get(group), after[0].values.get(group)
        return None if a is None or b is None else b - a

    def peak_rss(self, group: str, since: float, until: float) -> int:
        with self._lock:
            return max((s.rss.get(group, 0) for s in self.samples if since <= s.at <= until), default=0)
