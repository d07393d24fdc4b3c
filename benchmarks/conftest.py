"""Shared pieces of the micro-benchmarks: a simulated fleet, CPU accounting, the table.

pytest-benchmark times wall clock; the figure that matters on a conductor is
client CPU (forked children included), so every benchmark also records CPU
per call and the session ends with one table of medians and same-run ratios.
"""

from __future__ import annotations

import itertools
import random
import resource
import statistics
import time
from collections.abc import Callable

import pytest

from ironic_scale.sim.launcher import start_fleet

CPU: dict[str, list[float]] = {}  # benchmark name -> CPU seconds of each call
WALL: dict[str, list[float]] = {}
NOTES: list[str] = []  # extra result lines for the summary (e.g. the keepalive cost)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--quick", action="store_true",
                     help="few rounds, so CI checks that the benchmarks still run")
    parser.addoption("--sim-address", default="127.90.0.1",
                     help="first loopback address of the simulated fleets (default 127.90.0.1); "
                          "the keepalive benchmark uses the next /16")


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.fixture(scope="session")
def fleet(request):
    """50 simulated BMCs; each benchmark call polls the next one in turn."""
    f = start_fleet(50, ("--address", request.config.getoption("--sim-address")))
    yield f
    f.stop()


@pytest.fixture(scope="session")
def fleet6():
    """50 simulated BMCs on ::1 (IPv6 has one loopback address: one port each, 30000-30999)."""
    f = start_fleet(50, ("--address", "::1", "--per-port", "--port", str(random.randint(30000, 30949))))
    yield f
    f.stop()


@pytest.fixture
def measure(benchmark, request):
    """``measure(name, fn, rounds)``: benchmark ``fn`` and record its CPU per call."""
    quick = request.config.getoption("--quick")

    def run(name: str, fn: Callable[[], object], rounds: int) -> None:
        cpu, wall = CPU.setdefault(name, []), WALL.setdefault(name, [])

        def timed() -> None:
            c0, t0 = _cpu(), time.perf_counter()
            fn()
            wall.append(time.perf_counter() - t0)
            cpu.append(_cpu() - c0)

        benchmark.pedantic(timed, rounds=max(3, rounds // 20) if quick else rounds,
                           iterations=1, warmup_rounds=1)

    return run


def cycle(items):
    return itertools.cycle(items)


def _ratio(base: float | None, value: float) -> str:
    if not base or not value:
        return "-"
    r = base / value
    return f"{r:.0f}x" if r >= 10 else f"{r:.2g}x"


def pytest_terminal_summary(terminalreporter) -> None:
    if NOTES:
        terminalreporter.section("idle sessions")
        for line in NOTES:
            terminalreporter.write_line(line)
    if not CPU:
        return
    rows = {name: (statistics.median(v), min(v), max(v), statistics.median(WALL[name]))
            for name, v in CPU.items() if v}
    tr = terminalreporter
    tr.section("client CPU per power poll (children included), medians of this run")
    tr.write_line(f"{'method':<16} {'calls':>6} {'CPU ms (min-max)':>24} {'wall ms':>9} "
                  f"{'ipmitool/this':>14} {'ipmipower/this':>15}")
    base = {k: rows[k][0] for k in ("ipmitool", "ipmipower") if k in rows}
    for name, (med, lo, hi, wall) in sorted(rows.items(), key=lambda r: -r[1][0]):
        ratios = [_ratio(base.get(k), med) for k in ("ipmitool", "ipmipower")]
        spread = f"{med * 1e3:.3f} ({lo * 1e3:.3f}-{hi * 1e3:.3f})"
        tr.write_line(f"{name:<16} {len(CPU[name]):>6} {spread:>24} "
                      f"{wall * 1e3:>9.3f} {ratios[0]:>14} {ratios[1]:>15}")
    if "ipmitool-iface" in rows and "native-iface" in rows:
        tr.write_line("get_power_state(task) on the same BMC, Ironic's ipmitool power interface / "
                      f"native-ipmi's: {_ratio(rows['ipmitool-iface'][0], rows['native-iface'][0])}")
