"""Load Ironic's REST API with locust (headless, in a subprocess) and read back its stats.

Locust monkey-patches the interpreter with gevent on import, so it must never
be imported here or by anything that runs Ironic or the test runner: it only
ever runs as ``locust`` in a child process, and we read its CSV output.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

API_VERSION = "1.95"  # Ironic 39 (2025.2)

# Request names (templates) used by locustfile.py; one stats row each.
NAME_LIST = "/v1/nodes?limit=N"
NAME_DETAIL = "/v1/nodes/[uuid]"
NAME_STATES = "/v1/nodes/[uuid]/states"
REQUEST_NAMES = (NAME_LIST, NAME_DETAIL, NAME_STATES)
AGGREGATED = "Aggregated"

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# Locust start-up (gevent, imports), UUID discovery and shutdown on a busy 2-core box.
TIMEOUT_MARGIN_S = 60.0
CSV_PREFIX = "locust"


class ApiLoadFailed(RuntimeError):
    """Locust did not produce results (bad arguments, crash, timeout); carries the log tail."""


@dataclass(frozen=True)
class ApiLoadRow:
    """One request type (or the aggregate) from locust's ``_stats.csv``; times in ms."""

    name: str
    method: str
    requests: int
    failures: int
    p50_ms: float | None  # None when there were no requests
    p95_ms: float | None
    p99_ms: float | None
    rps: float

    @property
    def failure_rate(self) -> float:
        """Failed / all requests (locust counts failures in the request count); 0 if none ran."""
        return self.failures / self.requests if self.requests else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "failure_rate": self.failure_rate}


@dataclass(frozen=True)
class ApiLoad:
    """Result of one locust run: a row per request name plus the aggregate."""

    rows: dict[str, ApiLoadRow]
    aggregated: ApiLoadRow
    exceptions: int = 0  # exceptions raised in locustfile code: a bug there, not an API failure
    params: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"params": self.params, "exceptions": self.exceptions,
                "aggregated": self.aggregated.to_json(),
                "rows": {name: row.to_json() for name, row in self.rows.items()}}


def locust_command() -> list[str]:
    """The locust of the running venv; ``python -m locust`` if no script sits next to python."""
    script = Path(sys.executable).with_name("locust")
    return [str(script)] if script.exists() else [sys.executable, "-m", "locust"]


def run_api_load(url: str, users: int, duration: float, work_dir: Path, spawn_rate: float | None = None,
                 page_size: int = 100) -> ApiLoad:
    """Run the API load against ``url`` for ``duration`` s (whole seconds, at least 1) and parse it.

    ``spawn_rate`` defaults to ``users``, i.e. all users run after one second.
    Failed requests are a result (locust then exits 1), not an error; only a
    run that leaves no stats raises :class:`ApiLoadFailed`. Output goes to
    ``work_dir/locust.log`` and ``work_dir/locust_*.csv``. ValueError for a URL without scheme.
    """
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        # locust would otherwise resolve e.g. "127.0.0.1:6385" as a host name and just fail every request
        raise ValueError(f"API url must look like http://HOST:PORT, got {url!r}")
    work_dir.mkdir(parents=True, exist_ok=True)
    prefix = work_dir / CSV_PREFIX
    stats_csv = Path(f"{prefix}_stats.csv")
    for old in work_dir.glob(f"{CSV_PREFIX}_*.csv"):
        old.unlink()  # never mistake a previous run's stats for this one's
    seconds = max(1, math.ceil(duration))
    rate = spawn_rate if spawn_rate is not None else float(users)
    cmd = [*locust_command(), "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", f"{rate:g}",
           "-t", f"{seconds}s", "--host", url, "--csv", str(prefix), "--only-summary"]
    env = {**os.environ, "IRONIC_SCALE_LOCUST_PAGE_SIZE": str(page_size),
           # the locustfile imports ironic_scale, which need not be installed where locust runs
           "PYTHONPATH": os.pathsep.join(filter(None, [str(LOCUSTFILE.parents[2]),
                                                       os.environ.get("PYTHONPATH")]))}
    log = work_dir / "locust.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=seconds + TIMEOUT_MARGIN_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ApiLoadFailed(f"locust still running after {seconds + TIMEOUT_MARGIN_S:.0f} s"
                                f" ({log}):\n{_tail(log)}") from None
    # 0: all requests passed; 1: some failed (or a locustfile exception), stats still written.
    if rc not in (0, 1) or not stats_csv.exists():
        raise ApiLoadFailed(f"locust exited {rc} without stats ({log}):\n{_tail(log)}")
    try:
        load = parse_stats(stats_csv)
    except ValueError as e:
        raise ApiLoadFailed(f"{e} ({log}):\n{_tail(log)}") from None
    params = {"url": url, "users": users, "duration_s": seconds, "spawn_rate": rate, "page_size": page_size}
    return ApiLoad(load.rows, load.aggregated, _count_exceptions(Path(f"{prefix}_exceptions.csv")), params)


def parse_stats(path: Path) -> ApiLoad:
    """Read locust's ``<prefix>_stats.csv``; ValueError if it has no Aggregated row."""
    rows: dict[str, ApiLoadRow] = {}
    aggregated = None
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            row = ApiLoadRow(name=rec["Name"], method=rec["Type"], requests=int(rec["Request Count"]),
                             failures=int(rec["Failure Count"]), p50_ms=_ms(rec["50%"]),
                             p95_ms=_ms(rec["95%"]), p99_ms=_ms(rec["99%"]), rps=float(rec["Requests/s"]))
            if row.name == AGGREGATED and not row.method:
                aggregated = row
            else:
                rows[row.name if row.name not in rows else f"{row.method} {row.name}"] = row
    if aggregated is None:
        raise ValueError(f"no {AGGREGATED} row in {path}: locust stopped before writing stats")
    return ApiLoad(rows, aggregated)


def format_table(loads: dict[str, ApiLoad]) -> str:
    """One line per driver x request name (aggregate last), for the density report."""
    lines = [f"{'driver':<14} {'request':<26} {'reqs':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7}"
             f" {'p99 ms':>7} {'fail %':>7}"]
    for driver, load in loads.items():
        for name, row in [*sorted(load.rows.items()), (AGGREGATED, load.aggregated)]:
            lines.append(f"{driver:<14} {name:<26} {row.requests:>7} {row.rps:>7.1f} {_fmt(row.p50_ms)}"
                         f" {_fmt(row.p95_ms)} {_fmt(row.p99_ms)} {100 * row.failure_rate:>7.2f}")
    return "\n".join(lines)


def _ms(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def _fmt(ms: float | None) -> str:
    return f"{'-':>7}" if ms is None else f"{ms:>7.0f}"


def _count_exceptions(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, newline="") as f:
        return sum(int(rec["Count"]) for rec in csv.DictReader(f))


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
