"""The density test's own parts: Ironic's sync log line, and CPU of other processes."""

from __future__ import annotations

import datetime
import subprocess
import sys

from ironic_scale.density.cycles import CycleWatcher, parse_line
from ironic_scale.density.procstat import Sampler, cpu_seconds

# Copied from a real Ironic 39.0.0 conductor log (1,000 nodes, native-ipmi).
LINE = ("2026-11-24 01:49:27.370 29641 DEBUG ironic.conductor.manager [None req-aeec4181-1975-4ae8-84a3-"
        "0a3c900aa7ba - - - - - -] Completed power state sync operation, evaluated 7 nodes with 8 workers "
        "in 5.52 seconds _sync_power_states /x/ironic/conductor/manager.py:1752")


def test_sync_line_gives_the_cycle_window():
    cycle = parse_line(LINE)
    end = datetime.datetime(2026, 11, 24, 1, 49, 27, 370000).timestamp()
    assert cycle.end == end
    assert cycle.runtime == 5.52 and cycle.start == end - 5.52
    assert cycle.workers == 8  # "evaluated 7 nodes" is really workers - 1: not used
    assert parse_line(LINE.replace("Completed", "Started")) is None


def test_watcher_reads_only_new_cycles_in_order_across_partial_writes(tmp_path):
    log = tmp_path / "ironic.log"
    log.write_text(LINE + "\n")  # before the watcher: not reported
    watcher = CycleWatcher(log)
    second, third = LINE.replace("5.52", "1.00"), LINE.replace("5.52", "2.00")
    with open(log, "a") as f:
        f.write("unrelated line\n" + second + "\n" + third[:40])
    assert [c.runtime for c in watcher.poll()] == [1.0]
    with open(log, "a") as f:
        f.write(third[40:] + "\n")
    assert watcher.next_cycle(timeout=1).runtime == 2.0


def test_cpu_of_another_process_counts_its_reaped_children():
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'x = 0\\nfor i in range(3_000_000): x += i']); input()")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, text=True)
    try:
        sampler = Sampler(lambda: {"p": [parent.pid]}, interval=0.05).start()
        before = sampler.samples[0]
        # The child is reaped once its CPU shows up in the parent's cutime.
        deadline = before.at + 60
        while cpu_seconds(parent.pid) - before.values["p"] < 0.05:
            assert sampler.sample().at < deadline, "child CPU never reached the parent"
        after = sampler.sample()
        sampler.stop()
        mid = (before.at + after.at) / 2
        assert before.values["p"] <= sampler.value_at("p", mid) <= after.values["p"]
        assert sampler.value_at("p", after.at + 3600) is None  # far outside the samples
    finally:
        parent.communicate("\n", timeout=30)
