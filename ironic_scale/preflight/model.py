"""What a preflight reports: one ``Check`` per part, each with a status, and the exit code they make.

Statuses are the operator's questions: did it pass (``ok``), did it get slower than the
baseline (``regressed``), did it break (``failed``), was it left out on purpose
(``skipped``, with the reason) or could it not run in this environment (``not available``,
with the reason). Skips and unavailable parts never fail a preflight; the report lists them
so that a green result cannot hide what was not looked at.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, REGRESSED, FAILED, SKIPPED, NOT_AVAILABLE = "ok", "regressed", "failed", "skipped", "not available"
STATUSES = (OK, REGRESSED, FAILED, SKIPPED, NOT_AVAILABLE)
EXIT_OK, EXIT_PROBLEM, EXIT_BAD_INPUT = 0, 1, 2


@dataclass
class Figure:
    """One compared figure of one row: baseline and candidate values and the change between them."""

    row: str  # "1000 BMCs native", "100 nodes native-ipmi"
    name: str  # "CPU ms/node", "sweep s", "cycle s", "polled"
    baseline: float | str | None
    candidate: float | str | None
    change: float | None = None  # candidate / baseline - 1
    verdict: str = ""  # "regressed", "faster", "incorrect", "" (within the threshold), "not compared"

    @property
    def change_text(self) -> str:
        return "-" if self.change is None else f"{self.change:+.1%}"


@dataclass
class Check:
    name: str  # "patches", "config", "bench", "density"
    status: str
    summary: str  # one line: what it found, or why it was skipped / is not available
    details: list[str] = field(default_factory=list)  # further lines: what regressed, notes
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)  # for other parts: patch state, ring, paths

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 2)
        return out


def outcome(checks: list[Check]) -> tuple[str, int]:
    """The preflight's verdict and exit code: any failure, else any regression, else ok."""
    statuses = {c.status for c in checks}
    if FAILED in statuses:
        return FAILED, EXIT_PROBLEM
    if REGRESSED in statuses:
        return REGRESSED, EXIT_PROBLEM
    return OK, EXIT_OK
