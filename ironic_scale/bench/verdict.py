"""Was a sweep right? Every healthy node must answer with its true state; a dead one must fail.

Against real BMCs (``--inventory``) the true state is unknown, so only what
was seen is counted (on, off, failed) and nothing is judged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ironic_scale.sim.inventory import Endpoint

ANSWERS = ("on", "off")
MAX_EXAMPLES = 5
# Failure texts name the BMC; without it, the same failure on many BMCs counts as one reason.
_ADDRESS = re.compile(r"(?:bench-)?\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?")


@dataclass
class Verdict:
    on: int = 0
    off: int = 0
    failed: int = 0  # no answer, for any reason
    missed: int = 0  # healthy nodes among the failed: a correctness failure
    wrong: int = 0  # a state that is not the true one (a dead BMC "answering" included)
    checked: bool = True  # False: expected states unknown (real BMCs)
    examples: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)  # most common failure texts

    @property
    def ok(self) -> bool:
        return self.missed == 0 and self.wrong == 0


def expected_states(endpoints: list[Endpoint], on: set[str]) -> dict[str, str | None]:
    """True state per BMC: ``on`` for those in ``on``, else ``off``; None (must fail) if dead."""
    return {e.key: None if e.dead else ("on" if e.key in on else "off") for e in endpoints}


def judge(states: dict[str, str], endpoints: list[Endpoint],
          expected: dict[str, str | None] | None) -> Verdict:
    v = Verdict(checked=expected is not None)
    reasons: Counter = Counter()
    for ep in endpoints:
        got = states.get(ep.key, "no answer")
        if got == "on":
            v.on += 1
        elif got == "off":
            v.off += 1
        else:
            v.failed += 1
            reasons[_ADDRESS.sub("ADDR", got)] += 1
        if expected is None:
            continue
        want = expected[ep.key]
        bad = None
        if want is None and got in ANSWERS:
            v.wrong += 1
            bad = f"{ep.key}: dead BMC reported {got!r}"
        elif want is not None and got not in ANSWERS:
            v.missed += 1
            bad = f"{ep.key}: healthy BMC not answered ({got})"
        elif want is not None and got != want:
            v.wrong += 1
            bad = f"{ep.key}: reported {got!r}, is {want!r}"
        if bad and len(v.examples) < MAX_EXAMPLES:
            v.examples.append(bad)
    v.reasons = dict(reasons.most_common(MAX_EXAMPLES))
    return v
