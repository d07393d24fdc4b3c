"""Start a simulated fleet as a separate process and wait until it is ready.

Used by tests, benchmarks and ``ironic-scale bench``: the fleet runs in its
own processes so that its CPU is never counted as the client's.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from ironic_scale.sim import inventory
from ironic_scale.sim.control import SimControl
from ironic_scale.sim.inventory import Endpoint

CONTROL_CHUNK = 1000  # BMC keys per control request


class FleetFailed(RuntimeError):
    """The simulator exited or never became ready; carries its own error line."""


class RunningFleet:
    """A simulator process: its inventory, its control socket, and how to stop it."""

    def __init__(self, proc: subprocess.Popen, run_dir: str, ready_line: str):
        self.proc = proc
        self.run_dir = run_dir
        self.ready_line = ready_line
        self.inventory_path = os.path.join(run_dir, "inventory.jsonl")
        self.control = SimControl(os.path.join(run_dir, "control.sock"))
        self.endpoints: list[Endpoint] = inventory.read(self.inventory_path)
        self.final_counters: dict[str, Any] | None = None

    @property
    def pids(self) -> list[int]:
        """The supervisor and its workers, for CPU accounting."""
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return [self.proc.pid] + [int(p) for p in f.read().split()]

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """Stop the fleet; return its final counters."""
        if self.proc.poll() is None:
            try:
                self.final_counters = self.control.stop()
            except Exception:  # noqa: BLE001 - stopping must not fail; fall back to a signal
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.final_counters or {}

    def power(self, keys: Sequence[str], state: str) -> None:
        """Out-of-band power for many BMCs, in chunks: control lines are at most 64 KiB."""
        keys = list(keys)
        for i in range(0, len(keys), CONTROL_CHUNK):
            self.control.power(keys[i : i + CONTROL_CHUNK], state)

    def __enter__(self) -> "RunningFleet":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fleet(count: int, args: Sequence[str] = (), timeout: float = 180.0,
                run_dir: str | None = None) -> RunningFleet:
    """Run ``ironic-scale sim run --count COUNT ARGS`` and wait for its ready line."""
    run_dir = run_dir or tempfile.mkdtemp(prefix="ironic-scale-sim-")
    cmd = [sys.executable, "-m", "ironic_scale.cli", "sim", "run", "--count", str(count),
           "--run-dir", run_dir, *args]
    # stderr goes to a file: a pipe nobody drains would block the fleet once full.
    stderr_path = os.path.join(run_dir, "stderr.log")
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = ""
    while not line.startswith("ready:"):
        if not sel.select(max(0.0, deadline - time.monotonic())):
            proc.kill()
            raise FleetFailed(f"simulator not ready within {timeout:.0f} s")
        line = proc.stdout.readline()
        if not line:  # exited before becoming ready
            proc.wait()
            with open(stderr_path) as err:
                raise FleetFailed(err.read().strip() or f"simulator exited {proc.returncode}")
    sel.close()
    return RunningFleet(proc, run_dir, line.strip())
