"""A real baseline (``preflight --save-baseline`` on the simulator: bench at 50 BMCs, native and
native-interface, 2 sweeps; density at 20 nodes, native-ipmi on SQLite, 2 cycles) and copies of
its parts that tests change one figure of."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

FIXTURE = Path(__file__).with_name("baseline-sim.json")


@pytest.fixture
def saved() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture
def bench_doc(saved) -> dict:
    return saved["bench"]


@pytest.fixture
def density_doc(saved) -> dict:
    return saved["density"]


def scaled(doc: dict, figure: str, factor: float, method: str | None = None) -> dict:
    """A copy of ``doc`` with ``figure``'s median times ``factor`` (in rows of ``method``, or all)."""
    out = copy.deepcopy(doc)
    for row in out["rows"]:
        if method is None or row["method"] == method:
            row["summary"][figure]["median"] *= factor
    return out
