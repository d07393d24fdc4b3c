"""systemd units for N conductors per host, filled in from the templates in deploy/systemd/.

The templates are plain files an operator can read (``${field}`` placeholders,
string.Template); this module only computes the values. ``systemd`` beside this
file links to deploy/systemd, and a built wheel carries the files themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "systemd"
SERVICE = "ironic-conductor@.service"
TARGET = "ironic-conductors.target"
UNIT_DIR = "etc/systemd/system"  # where both go on the machine, relative to /

# Added to the graceful stop's own bound: the RPC server's stop, the last heartbeat and
# process exit take a few seconds (sharding.md §2 suggests 15).
STOP_MARGIN = 15

_UNSAFE = re.compile(r"[\s\"'\\%$;]")  # systemd splits, quotes or expands these in ExecStart
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")


def stop_timeout(hash_ring_reset_interval: int, graceful_shutdown_timeout: int,
                 margin: int = STOP_MARGIN) -> int | None:
    """Seconds for TimeoutStopSec, or None (``infinity``) when the graceful stop has no limit.

    rpc_service.RPCService.stop() sleeps until hash_ring_reset_interval has passed
    since the stop began (when other conductors are online), then waits for this
    conductor's reservations until graceful_shutdown_timeout has passed (0: no limit).
    Both count from the same start, so their sum plus a margin is a safe bound.
    """
    if graceful_shutdown_timeout == 0:
        return None
    return max(0, hash_ring_reset_interval) + graceful_shutdown_timeout + margin


def check_unit_path(what: str, path: str) -> str:
    """An absolute path that systemd's ExecStart takes literally, else ValueError."""
    if not PurePosixPath(path).is_absolute():
        raise ValueError(f"{what} {path!r} must be an absolute path (systemd's ExecStart needs one)")
    if _UNSAFE.search(path):
        raise ValueError(f"{what} {path!r}: whitespace, quotes, '\\', '%', '$' and ';' are not allowed "
                         "(systemd would split or expand them)")
    return path


def check_user(user: str) -> str:
    if not _USER.match(user):
        raise ValueError(f"--user {user!r} is not a valid system user name")
    return user


def state_directory_line(state_dir: str) -> str:
    """``StateDirectory=`` for per-instance dirs under /var/lib, or a comment saying why there is none."""
    rel = PurePosixPath(state_dir).relative_to("/") if PurePosixPath(state_dir).is_absolute() else None
    if rel is not None and rel.parts[:2] == ("var", "lib") and len(rel.parts) > 2:
        return ("# /" + str(rel) + "/conductor-%i (image caches), created and owned by User=\n"
                "StateDirectory=" + str(PurePosixPath(*rel.parts[2:])) + "/conductor-%i")
    return (f"# No StateDirectory=: --state-dir {state_dir} is outside /var/lib; the conductor creates its\n"
            "# cache directories there itself, so User= needs write access to it.")


@dataclass(frozen=True)
class UnitSettings:
    machine: str
    count: int
    user: str
    conductor_bin: str
    base_config: str
    conductor_dir: str
    state_dir: str
    hash_ring_reset_interval: int
    graceful_shutdown_timeout: int

    @property
    def timeout_stop(self) -> int | None:
        return stop_timeout(self.hash_ring_reset_interval, self.graceful_shutdown_timeout)


def _fill(name: str, **fields: object) -> str:
    return Template((TEMPLATES / f"{name}.in").read_text()).substitute(fields)


def render_service(u: UnitSettings) -> str:
    timeout = u.timeout_stop
    return _fill(SERVICE, count=u.count, machine=u.machine, user=u.user, conductor_bin=u.conductor_bin,
                 base_config=u.base_config, conductor_dir=u.conductor_dir,
                 reset_interval=f"{u.hash_ring_reset_interval} s",
                 graceful_timeout=f"{u.graceful_shutdown_timeout} s" if timeout else "0: no limit",
                 margin=STOP_MARGIN, timeout_stop="infinity" if timeout is None else timeout,
                 state_directory=state_directory_line(u.state_dir))


def render_target(u: UnitSettings) -> str:
    wants = " ".join(f"ironic-conductor@{i}.service" for i in range(1, u.count + 1))
    return _fill(TARGET, count=u.count, machine=u.machine, wants=wants)
