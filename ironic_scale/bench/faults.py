"""Fault mixes: which simulator options each named mix starts the fleet with."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

FAULTS = ("none", "dead", "loss", "latency", "all")
# "loss10", "loss30": that percentage of requests dropped, so one run compares several rates.
LOSS_PERCENT = re.compile(r"loss(\d{1,3})")


def loss_percent(fault: str) -> int | None:
    """NN for a ``lossNN`` mix (0-100), else None."""
    m = LOSS_PERCENT.fullmatch(fault)
    return int(m.group(1)) if m and int(m.group(1)) <= 100 else None


def is_fault(name: str) -> bool:
    return name in FAULTS or loss_percent(name) is not None


def fault_list(text: str) -> list[str]:
    """argparse type for ``--faults``: comma-separated mixes, in order, without repeats."""
    names = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    for n in names:
        if not is_fault(n):
            raise argparse.ArgumentTypeError(
                f"unknown fault mix {n!r}: choose from {', '.join(FAULTS)}, or lossNN "
                "(NN % of requests dropped, 0-100, e.g. loss10)")
    if not names:
        raise argparse.ArgumentTypeError("no fault mix given")
    return names


@dataclass(frozen=True)
class FaultSettings:
    dead_fraction: float = 0.01  # BMCs that never answer (marked dead in the inventory)
    loss: float = 0.05  # fraction of requests the BMCs drop
    latency: str = "200ms"  # reply delay, in the simulator's --latency syntax

    def sim_args(self, fault: str) -> list[str]:
        """``ironic-scale sim run`` options for one mix."""
        percent = loss_percent(fault)
        if percent is not None:
            return ["--loss", str(percent / 100)]
        if fault not in FAULTS:
            raise ValueError(f"unknown fault mix {fault!r}: choose from {', '.join(FAULTS)} or lossNN")
        args: list[str] = []
        if fault in ("dead", "all"):
            args += ["--dead-fraction", str(self.dead_fraction)]
        if fault in ("loss", "all"):
            args += ["--loss", str(self.loss)]
        if fault in ("latency", "all"):
            args += ["--latency", self.latency]
        return args
