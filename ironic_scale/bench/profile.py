"""``--profile``: a py-spy flame graph (SVG) of native sweeps, attached to this process.

The profiled sweeps are extra ones on warm sessions, after the measured
sweeps: py-spy pauses the process at every sample, so its sweeps are not
counted. A single native sweep of 1,000 BMCs lasts ~0.1 s (20 samples), so
sweeps repeat until ``min_seconds`` have passed. Any py-spy failure (not
installed, no ptrace permission) becomes a one-line note; the bench goes on.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from ironic_scale.bench.sweep import NativeWarm, SweepOptions
from ironic_scale.sim.inventory import Endpoint


def py_spy() -> str | None:
    here = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return here if os.access(here, os.X_OK) else shutil.which("py-spy")


def _error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("Error"):
            return ln
    return lines[-1] if lines else "no output"


NOT_INSTALLED = {"path": None, "error": "py-spy is not installed (pip install 'ironic-scale[bench]')"}


def _ready(path: str) -> str | None:
    """py-spy's path (and the SVG's directory made), or None when it is not installed."""
    exe = py_spy()
    if exe is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return exe


def _outcome(returncode: int, output: str, path: str, **extra: Any) -> dict[str, Any]:
    """What a py-spy run left: the SVG and its sample count, or its error line."""
    samples = re.search(r"Samples: (\d+)", output)
    if returncode != 0 or not os.path.exists(path) or not samples:
        return {"path": None, "error": f"py-spy exited {returncode}: {_error_line(output)}"}
    return {"path": path, "error": None, **extra, "samples": int(samples.group(1))}


def record_pid(pid: int, path: str, seconds: float, rate: int = 100) -> dict[str, Any]:
    """A flame graph of another process (e.g. an Ironic conductor worker) for ``seconds``."""
    exe = _ready(path)
    if exe is None:
        return dict(NOT_INSTALLED)
    proc = subprocess.run([exe, "record", "-o", path, "--pid", str(pid), "--rate", str(rate),
                           "--duration", str(max(1, round(seconds))), "--nonblocking"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 120)
    return _outcome(proc.returncode, proc.stdout + proc.stderr, path, seconds=seconds)


def profile_native(endpoints: list[Endpoint], path: str, options: SweepOptions,
                   min_seconds: float = 5.0) -> dict[str, Any]:
    """Flame graph of native sweeps into ``path``; returns what happened (``error`` if not)."""
    exe = _ready(path)
    if exe is None:
        return dict(NOT_INSTALLED)
    native = NativeWarm(endpoints, options)  # logins are not what we profile
    try:
        # py-spy gives no sign that it has attached when not on a terminal:
        # sweep long enough that the fraction of a second it takes does not matter.
        proc = subprocess.Popen([exe, "record", "-o", path, "--pid", str(os.getpid()),
                                 "--rate", "200"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        rest: list[str] = []
        drain = threading.Thread(target=lambda: rest.extend(proc.stdout), daemon=True)
        drain.start()
        sweeps, t0 = 0, time.monotonic()
        while (sweeps == 0 or time.monotonic() - t0 < min_seconds) and proc.poll() is None:
            native.poll(endpoints)
            sweeps += 1
        seconds = time.monotonic() - t0
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes the SVG on Ctrl-C
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drain.join(5)
        return _outcome(proc.returncode, "".join(rest), path, sweeps=sweeps,
                        seconds=round(seconds, 3), nodes=len(endpoints))
    finally:
        native.close()
