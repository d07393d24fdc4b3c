"""Client-side meters: CPU (children included), RSS, and a forked tool's own peak RSS.

Why GNU time for a tool's RSS: a child's ``ru_maxrss`` (``wait4`` or
``getrusage(RUSAGE_CHILDREN)``) starts at the high-water mark of the process
it was forked from (vfork shares the parent's memory until exec), so from a
100 MiB Python process every ``ipmitool`` "uses" 100 MiB. ``/usr/bin/time``
is a 2 MiB process: a tool forked from it reports its own peak.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass


def cpu_seconds() -> float:
    """User + system CPU of this process and of every child it has reaped."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def rss_kib() -> int:
    """This process's resident set now."""
    return _status_kib("VmRSS")


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_kib() -> int:
    """This process's RSS high-water mark (since the last ``reset_peak_rss``)."""
    return _status_kib("VmHWM")


@dataclass
class ToolRun:
    returncode: int
    stdout: str
    error: str  # last line of stderr: why a poll failed


def run_tool(argv: Sequence[str], timeout: float) -> ToolRun:
    """Run a command and collect its output; a command past ``timeout`` is killed (rc -9)."""
    try:
        res = subprocess.run(list(argv), capture_output=True, stdin=subprocess.DEVNULL,
                             timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return ToolRun(-9, (e.stdout or b"").decode(errors="replace"),
                       f"killed after {timeout:.0f} s")
    lines = res.stderr.decode(errors="replace").strip().splitlines()
    return ToolRun(res.returncode, res.stdout.decode(errors="replace"),
                   lines[-1].strip() if lines else f"exit code {res.returncode}")


GNU_TIME = "/usr/bin/time"


def tool_peak_rss_kib(argv: Sequence[str], timeout: float) -> int | None:
    """Peak RSS of one run of ``argv``, forked from GNU time; None without GNU time."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    with tempfile.NamedTemporaryFile("r", prefix="ironic-scale-rss-") as out:
        try:
            subprocess.run([GNU_TIME, "-f", "%M", "-o", out.name, *argv], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        text = out.read().split()
    return int(text[-1]) if text and text[-1].isdigit() else None
