"""What the preflight will measure: bench and density arguments, or why a part is skipped.

With a baseline, every setting the operator does not give is taken from the baseline's own
run (sizes, methods, repeats, fault mixes; density size, series, cycles, database), so the
candidate measures what production measured and every row has a partner. Without one
(``--save-baseline`` alone) small defaults keep a preflight to a few minutes.

Everything is decided and checked here, before anything runs: a bad option or a baseline
that cannot be compared with this run is a ``ValueError`` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.preflight import measure
from ironic_scale.preflight.baseline import Baseline

BENCH_SIZES = [1000]
BENCH_REPEATS = 5
DENSITY_SIZE = 100
DENSITY_CYCLES = 5
DENSITY_SYNC_INTERVAL = 5
DENSITY_DRIVERS = ["native-ipmi"]
INVENTORY_METHODS = ["native"]
# bench settings taken over from the baseline as they are, when it recorded them.
BENCH_PASSED_ON = (("faults", "--faults"), ("dead_fraction", "--dead-fraction"), ("loss", "--loss"),
                   ("latency", "--latency"), ("session_slots", "--session-slots"), ("timeout", "--timeout"),
                   ("ipmitool_max_repeats", "--ipmitool-max-repeats"))
DENSITY_PASSED_ON = (("warmup", "--warmup"), ("dead_fraction", "--dead-fraction"))
NO_DENSITY_ON_REAL_BMCS = ("--inventory polls real BMCs: the density test runs a real Ironic whose power "
                           "sync would act on the hosts, so it runs on the simulator only")


@dataclass
class Part:
    """One measured part: the command's arguments, or why it is not run (then ``argv`` is None)."""

    name: str
    argv: list[str] | None = None
    skipped: str | None = None
    not_available: str | None = None
    compare: bool = False  # the baseline has this part: compare with it
    not_compared: str | None = None  # run (for --save-baseline) but the baseline has no such part


@dataclass
class Plan:
    work: Path
    parts: dict[str, Part] = field(default_factory=dict)


def _csv(values: list[Any]) -> str:
    return ",".join(str(v) for v in values)


def _settings(baseline: Baseline | None, part: str) -> dict[str, Any]:
    doc = baseline.part(part) if baseline else None
    return (doc or {}).get("settings") or {}


def _ironic_here() -> bool:
    try:
        return importlib.util.find_spec("ironic") is not None
    except (ImportError, ValueError):
        return False


def _bench_methods(args: argparse.Namespace, base: dict[str, Any]) -> list[str]:
    if args.methods:
        return args.methods
    if base.get("methods"):
        return list(base["methods"])
    if args.inventory:
        return list(INVENTORY_METHODS)
    return ["native", "native-interface"] if _ironic_here() else ["native"]


def _bench_mode(args: argparse.Namespace, baseline: Baseline | None) -> None:
    """Simulator against real BMCs (or the reverse) gives rows that only look comparable."""
    doc = baseline.part("bench") if baseline else None
    mode = (doc or {}).get("mode")
    if mode == "inventory" and not args.inventory:
        raise ValueError(f"the baseline's bench polled real BMCs (--inventory "
                         f"{_settings(baseline, 'bench').get('inventory')}): give --inventory FILE too, "
                         "or --skip-bench")
    if mode == "simulator" and args.inventory:
        raise ValueError("the baseline's bench ran on the simulator: a run against real BMCs (--inventory) "
                         "cannot be compared with it; save a baseline with --inventory, or --skip-bench")


def bench_part(args: argparse.Namespace, baseline: Baseline | None) -> Part:
    part = Part("bench")
    if args.skip_bench:
        part.skipped = "--skip-bench"
        return part
    has_part = baseline is not None and baseline.part("bench") is not None
    if baseline is not None and not has_part and not args.save_baseline:
        part.skipped = baseline.missing["bench"]
        return part
    part.compare = has_part
    if baseline is not None and not has_part:
        part.not_compared = baseline.missing["bench"]
    _bench_mode(args, baseline)
    base = _settings(baseline, "bench") if has_part else {}
    argv = ["--methods", _csv(_bench_methods(args, base)),
            "--repeats", str(args.repeats or base.get("repeats") or BENCH_REPEATS)]
    if args.inventory:
        if args.sizes:
            raise ValueError("--inventory fixes the fleet: leave out --sizes")
        argv += ["--inventory", args.inventory]
    else:
        argv += ["--sizes", _csv(args.sizes or base.get("sizes") or BENCH_SIZES), "--address", args.address]
        for key, flag in BENCH_PASSED_ON:
            if base.get(key) is not None:
                argv += [flag, _csv(base[key]) if isinstance(base[key], list) else str(base[key])]
    measure.parse("bench", argv)  # refused now, not after the other parts ran
    part.argv = argv
    return part


def _set_args(options: dict[str, dict[str, Any]]) -> list[str]:
    return [arg for section, values in options.items() for key, value in values.items()
            for arg in ("--set", f"{section}.{key}={value}")]


def with_ring(argv: list[str], ring: dict[str, str]) -> list[str]:
    """Density arguments with the ring settings this environment's configs set, over the baseline's
    (a later ``--set`` of the same key wins)."""
    return argv + _set_args({"DEFAULT": ring}) if ring else argv


def density_part(args: argparse.Namespace, baseline: Baseline | None, work: Path) -> Part:
    """The baseline run's own extra ironic.conf settings are kept (``with_ring`` adds this
    environment's ring settings once the configs are read)."""
    part = Part("density")
    if args.skip_density:
        part.skipped = "--skip-density"
        return part
    if args.inventory:
        part.skipped = NO_DENSITY_ON_REAL_BMCS
        return part
    has_part = baseline is not None and baseline.part("density") is not None
    if baseline is not None and not has_part and not args.save_baseline:
        part.skipped = baseline.missing["density"]
        return part
    if not _ironic_here():
        part.not_available = ("the density test runs a real Ironic: install ironic-scale[density] in this "
                              "Python (the conductor's venv)")
        return part
    part.compare = has_part
    if baseline is not None and not has_part:
        part.not_compared = baseline.missing["density"]
    base = _settings(baseline, "density") if has_part else {}
    sizes = [args.density_size] if args.density_size else base.get("sizes") or [DENSITY_SIZE]
    db = args.db or base.get("db") or "sqlite"
    drivers = args.density_drivers or base.get("drivers") or DENSITY_DRIVERS
    interval = args.density_sync_interval or base.get("sync_interval") or DENSITY_SYNC_INTERVAL
    argv = ["--sizes", _csv(sizes), "--drivers", _csv(drivers),
            "--cycles", str(args.density_cycles or base.get("cycles") or DENSITY_CYCLES),
            "--sync-interval", str(interval), "--db", db, "--address", args.address,
            "--conductor-address", args.conductor_address,
            "--work", str(work / "density")]
    for key, flag in DENSITY_PASSED_ON:
        if base.get(key) is not None:
            argv += [flag, str(base[key])]
    if db != "sqlite" and base.get("conductors"):
        argv += ["--conductors", _csv(base["conductors"]), "--per-host", str(base.get("per_host", 1))]
        if base.get("rpc") in ("json-rpc", "rabbit"):
            argv += ["--rpc", base["rpc"]]
    argv += _set_args(base.get("options") or {})
    measure.parse("density", argv)
    part.argv = argv
    return part
