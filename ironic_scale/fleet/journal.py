"""A per-node journal: JSON lines appended and fsynced as each step of each node completes.

An interrupted import or migration resumes from it, a re-run skips what it records as done,
and a migration's journal is what ``--rollback`` restores from. The first line names the
kind of run (``import``, ``migrate``), so one kind's journal is never read as the other's.

A run killed in the middle of a write leaves a partial last line; opening the journal
drops it (the step it described is redone: every step is safe to repeat).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ironic_scale.fleet.errors import FleetError

VERSION = 1


class Journal:
    """Append-only record of what a run did, node by node; safe to use from worker threads."""

    def __init__(self, path: str | Path, kind: str, header: dict[str, Any] | None = None):
        self.path = Path(path)
        self.kind = kind
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self.header: dict[str, Any] = {}
        self.dropped_partial = False
        if self.path.exists() and self.path.stat().st_size:
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.header = {"journal": kind, "version": VERSION, "created": time.time(), **(header or {})}
            self._write_lines([self.header])

    @property
    def resumed(self) -> bool:
        """True when the file held an earlier run's records."""
        return bool(self._entries)

    def _load(self) -> None:
        raw = self.path.read_bytes()
        if not raw.endswith(b"\n"):  # killed mid-write: drop the partial record
            raw = raw[: raw.rfind(b"\n") + 1]
            with open(self.path, "r+b") as f:
                f.truncate(len(raw))
            self.dropped_partial = True
        lines = raw.decode().splitlines()
        try:
            self.header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            self.header = {}
        if self.header.get("journal") != self.kind:
            raise FleetError(f"{self.path} is not a fleet {self.kind} journal "
                             f"(its first line: {lines[0][:80] if lines else '(empty)'!r})")
        for number, line in enumerate(lines[1:], 2):
            try:
                self._entries.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise FleetError(f"{self.path}:{number}: not a journal record ({e.msg})") from None

    def _write_lines(self, records: Iterable[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def record(self, node: str, step: str, **data: Any) -> dict[str, Any]:
        """Append one completed step of ``node`` (a name or UUID) and return the record."""
        entry = {"node": node, "step": step, "at": round(time.time(), 3), **data}
        with self._lock:
            self._write_lines([entry])
            self._entries.append(entry)
        return entry

    def entries(self, node: str | None = None) -> list[dict[str, Any]]:
        """Every record, in order; only ``node``'s with a node."""
        with self._lock:
            return [e for e in self._entries if node is None or e["node"] == node]

    def last(self, node: str) -> dict[str, Any] | None:
        """The newest record of ``node``, or None."""
        found = self.entries(node)
        return found[-1] if found else None

    def nodes(self) -> list[str]:
        """Nodes with at least one record, in the order they first appear."""
        return list(dict.fromkeys(e["node"] for e in self.entries()))
