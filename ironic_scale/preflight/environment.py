"""What the environment is, so a report can set the baseline's and the candidate's side by side.

A slower figure means little until the reader knows what changed besides the code under
test: another Ironic, another Python, the patch series no longer applied, a different ring,
fewer cores. Each environment is one flat mapping with the same keys, in the order a reader
wants them; a key a result did not record shows as None.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ironic_scale.bench import results

KEYS = ("ironic", "ironic-scale", "ironic-scale commit", "python", "pyghmi", "futurist", "ipmitool",
        "ipmipower", "patch series", "ring (config)", "cores", "cpu model", "kernel")
NOT_RECORDED = "not recorded"


def _commit() -> str | None:
    """The git commit this ironic-scale runs from, when it runs from a checkout (else None)."""
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None
    try:
        res = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() or None


def _flatten(versions: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    return {"ironic": versions.get("ironic"), "ironic-scale": versions.get("ironic-scale"),
            "python": versions.get("python"), "pyghmi": versions.get("pyghmi"),
            "futurist": versions.get("futurist"), "ipmitool": versions.get("ipmitool"),
            "ipmipower": versions.get("ipmipower"), "cores": machine.get("cores"),
            "cpu model": machine.get("cpu_model"), "kernel": machine.get("kernel")}


def current(patch_state: str, ring: str | None) -> dict[str, Any]:
    """This environment: versions, machine, patch series state and the configured ring."""
    env = {**_flatten(results.versions(), results.machine()), "ironic-scale commit": _commit(),
           "patch series": patch_state, "ring (config)": ring}
    return {k: env.get(k) for k in KEYS}


def from_result(doc: dict[str, Any]) -> dict[str, Any]:
    """The environment a plain bench or density result recorded (no patch state, no ring)."""
    env = _flatten(doc.get("versions") or {}, doc.get("machine") or {})
    env |= {"ironic-scale commit": None, "patch series": NOT_RECORDED, "ring (config)": NOT_RECORDED}
    return {k: env.get(k) for k in KEYS}


def side_by_side(baseline: dict[str, Any] | None,
                 candidate: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(key, baseline, candidate, changed) per key; nothing is "changed" where a side is unknown."""
    rows = []
    for key in KEYS:
        new = candidate.get(key)
        old = None if baseline is None else baseline.get(key)
        known = old not in (None, NOT_RECORDED) and new not in (None, NOT_RECORDED)
        rows.append((key, "-" if old is None else str(old), "-" if new is None else str(new),
                     known and old != new))
    return rows
