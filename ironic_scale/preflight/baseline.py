"""The baseline a preflight compares against: saved from production, or an older result file.

``preflight --save-baseline FILE`` writes one document with the bench and density results
of the current production environment and what that environment was (versions, patch
state, ring settings). ``--baseline FILE`` also takes a plain ``ironic-scale bench --json``
or ``ironic-scale density --json`` result: the part it lacks is then skipped, with the
reason. Anything else, and any file whose rows lack what the comparison reads, is refused
with one line before anything runs: a comparison against half a baseline would pass for
the wrong reason.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ironic_scale.bench import results
from ironic_scale.preflight.environment import from_result

KIND = "ironic-scale preflight baseline"
SCHEMA = 1
BENCH_TOOL = "ironic-scale bench"
DENSITY_KIND = "ironic-scale density"
PARTS = ("bench", "density")
ONLY = "an 'ironic-scale {}' result: it has no {} figures"
# What each part's rows must hold for the comparison (``preflight.compare``).
ROW_KEYS = {"bench": ("size", "fault", "method", "summary"), "density": ("size", "method", "summary")}


class BaselineError(ValueError):
    """The baseline file is missing, not JSON, or not a result the preflight can compare with."""


@dataclass
class Baseline:
    path: str
    kind: str  # "preflight", "bench" or "density": which file it was
    created: str | None
    environment: dict[str, Any]
    parts: dict[str, dict[str, Any] | None]  # "bench"/"density" -> result document, or None
    missing: dict[str, str] = field(default_factory=dict)  # part -> why the baseline has none

    def part(self, name: str) -> dict[str, Any] | None:
        return self.parts.get(name)


def _check_part(path: str, name: str, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise BaselineError(f"baseline {path}: its {name} part has no list of rows")
    for i, row in enumerate(doc["rows"]):
        lacking = [k for k in ROW_KEYS[name] if not isinstance(row, dict) or k not in row]
        if lacking or not isinstance(row.get("summary"), dict):
            what = ", ".join(lacking) or "a summary"
            raise BaselineError(f"baseline {path}: {name} row {i + 1} lacks {what}")
    return doc


def load(path: str) -> Baseline:
    """Read and check a baseline; every problem is a one-line ``BaselineError``."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise BaselineError(f"baseline {path}: no such file") from None
    except OSError as e:
        raise BaselineError(f"baseline {path}: cannot read it ({e.strerror})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BaselineError(f"baseline {path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(doc, dict):
        raise BaselineError(f"baseline {path}: not a JSON object")
    if doc.get("kind") == KIND:
        if doc.get("schema") != SCHEMA:
            raise BaselineError(f"baseline {path}: schema {doc.get('schema')!r}, this ironic-scale reads "
                                f"schema {SCHEMA}")
        parts = {p: None if doc.get(p) is None else _check_part(path, p, doc[p]) for p in PARTS}
        if not any(parts.values()):
            raise BaselineError(f"baseline {path}: holds neither bench nor density results")
        missing = {p: f"the baseline has no {p} results ({doc.get('skipped', {}).get(p, 'not measured')})"
                   for p in PARTS if parts[p] is None}
        return Baseline(path, "preflight", doc.get("created"), doc.get("environment") or {}, parts, missing)
    if doc.get("tool") == BENCH_TOOL or ("rows" in doc and "mode" in doc and "kind" not in doc):
        return Baseline(path, "bench", doc.get("started"), from_result(doc),
                        {"bench": _check_part(path, "bench", doc), "density": None},
                        {"density": f"the baseline is {ONLY.format('bench', 'density')}"})
    if doc.get("kind") == DENSITY_KIND:
        return Baseline(path, "density", doc.get("started"), from_result(doc),
                        {"bench": None, "density": _check_part(path, "density", doc)},
                        {"bench": f"the baseline is {ONLY.format('density', 'bench')}"})
    raise BaselineError(f"baseline {path}: not an ironic-scale preflight baseline, nor a bench or density "
                        "result (make one with 'ironic-scale preflight --save-baseline FILE')")


def save(path: str, environment: dict[str, Any], settings: dict[str, Any],
         parts: dict[str, dict[str, Any] | None], skipped: dict[str, str]) -> None:
    """Write the baseline atomically (a reader never sees half of it)."""
    doc = {"kind": KIND, "schema": SCHEMA,
           "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "environment": environment, "settings": settings, **{p: parts.get(p) for p in PARTS},
           "skipped": skipped}
    results.write(doc, path)
