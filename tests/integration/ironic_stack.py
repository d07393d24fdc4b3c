"""A real Ironic 39 all-in-one (API + conductor, SQLite) on loopback, for tests.

A thin adapter over ``ironic_scale.stack``: the same config template
(deploy/stack/ironic.conf) and process handling the density test and
``ironic-scale stack`` use. Nothing is mocked: ``ironic-dbsync`` creates the
schema, the ``ironic`` command serves the API, and nodes are driven over REST.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ironic_scale.stack.processes import Stack, StackSpec
from ironic_scale.stack.rest import ApiError, IronicClient

# Our driver's timeouts, short so that failure paths stay quick in tests.
TEST_OPTIONS = {"native_ipmi": {"command_timeout": "5", "retry_interval": "0.5"}}


class IronicStack:
    """Start, talk to over REST, and stop one all-in-one Ironic."""

    def __init__(self, work: Path, sync_interval: int = 60, conductor_base: str | None = None):
        self.work = work
        self._stack = Stack(StackSpec(
            work=work, sync_interval=sync_interval, options=TEST_OPTIONS,
            conductor_base=conductor_base or f"127.{random.randint(141, 160)}.{random.randint(0, 250)}.1"))
        self.client: IronicClient | None = None

    @property
    def conf(self) -> Path:
        """The conductor's main config file (what enrollment reads)."""
        return self._stack.config_files()[0]

    @property
    def url(self) -> str:
        return self._stack.state.url

    def start(self, timeout: float = 120.0) -> None:
        self._stack.start(timeout)
        self.client = IronicClient(self.url)

    def stop(self) -> None:
        self._stack.stop()

    def log_tail(self, lines: int = 40) -> str:
        return self._stack.log_tail(lines=lines)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return self.client.request(method, path, body)
        except ApiError as e:
            raise AssertionError(str(e)) from None

    def wait_for(self, path: str, predicate: Callable[[Any], bool], what: str, timeout: float = 60.0) -> Any:
        return self.client.wait_for(path, predicate, what, timeout)
