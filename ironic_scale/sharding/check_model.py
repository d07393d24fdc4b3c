"""What the config checks read (the fleet) and what they return (oslo.upgradecheck results).

A check is a function ``fleet -> list[Result]``: one line per problem it found,
or one SUCCESS line saying what it looked at. Results use oslo.upgradecheck's
``Code``/``Result`` (the model of ``ironic-status upgrade check``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from oslo_upgradecheck.upgradecheck import Code, Result

from ironic_scale.sharding.confload import Service
from ironic_scale.sharding.unit_timeout import StopTimeout


@dataclass(frozen=True)
class Fleet:
    """Every API service and conductor process of one deployment, plus what the CLI adds."""

    apis: list[Service]
    conductors: list[Service]
    stop_timeout: StopTimeout  # from --unit files, else systemd's default
    units_given: bool = False
    api_workers: int | None = None  # --api-workers: overrides [api]api_workers for every API
    max_connections: int | None = None  # --max-connections, or queried with --db
    max_connections_source: str = ""
    max_connections_server: str | None = None  # the server it was queried from; None: every server

    @property
    def services(self) -> list[Service]:
        return [*self.apis, *self.conductors]


Check = Callable[[Fleet], list[Result]]


def ok(details: str) -> list[Result]:
    return [Result(Code.SUCCESS, details)]


def warn(details: str) -> Result:
    return Result(Code.WARNING, details)


def fail(details: str) -> Result:
    return Result(Code.FAILURE, details)


def labels(services: Iterable[Service]) -> str:
    return ", ".join(s.label for s in services)


def every(n: int, word: str) -> str:
    """``all 4 conductors`` / ``the 1 conductor``."""
    return f"all {plural(n, word)}" if n != 1 else f"the 1 {word}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith('s') else 's'}"
