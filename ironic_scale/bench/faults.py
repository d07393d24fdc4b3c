"""Fault mixes: which simulator options each named mix starts the fleet with."""

from __future__ import annotations

from dataclasses import dataclass

FAULTS = ("none", "dead", "loss", "latency", "all")


@dataclass(frozen=True)
class FaultSettings:
    dead_fraction: float = 0.01  # BMCs that never answer (marked dead in the inventory)
    loss: float = 0.05  # fraction of requests the BMCs drop
    latency: str = "200ms"  # reply delay, in the simulator's --latency syntax

    def sim_args(self, fault: str) -> list[str]:
        """``ironic-scale sim run`` options for one mix."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault mix {fault!r}: choose from {', '.join(FAULTS)}")
        args: list[str] = []
        if fault in ("dead", "all"):
            args += ["--dead-fraction", str(self.dead_fraction)]
        if fault in ("loss", "all"):
            args += ["--loss", str(self.loss)]
        if fault in ("latency", "all"):
            args += ["--latency", self.latency]
        return args
