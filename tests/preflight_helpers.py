"""Shared by the preflight tests: the command as an operator runs it, its own loopback range, a config."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path


def address(octets: tuple[int, int] = (171, 175)) -> str:
    """A simulator base in the preflight tests' own range (127.171-180.x.x)."""
    return f"127.{random.randint(*octets)}.{random.randint(0, 250)}.1"


def preflight(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    """``ironic-scale preflight ARGS`` in a fresh Python (stdout: the report, stderr: progress)."""
    return subprocess.run([sys.executable, "-m", "ironic_scale.cli", "preflight", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def write_conf(path: Path, **default: object) -> str:
    """An ironic.conf that ``ironic-scale check`` passes (one warning: a single conductor per ring)."""
    lines = ["[DEFAULT]", "host = ctl1.example.net", "enabled_hardware_types = ipmi,native-ipmi",
             *(f"{k} = {v}" for k, v in default.items()),
             "[api]", "api_workers = 1",
             "[database]", "connection = postgresql://ironic:x@db.example.net/ironic", "max_overflow = 10"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def doctored(src: Path, dest: Path, part: str, figure: str, factor: float) -> dict:
    """A copy of baseline ``src`` with ``figure``'s median in every ``part`` row times ``factor``."""
    doc = json.loads(src.read_text())
    for row in doc[part]["rows"]:
        row["summary"][figure]["median"] *= factor
    dest.write_text(json.dumps(doc))
    return doc
