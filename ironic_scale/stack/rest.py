"""A minimal Ironic REST client (noauth), as an operator's ``baremetal`` CLI talks.

Hand-written over urllib rather than openstacksdk: the stack, the density test
and the tests need five calls, and the SDK would add keystoneauth and a
clouds.yaml to a loopback noauth API.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

API_VERSION = "1.95"  # Ironic 39 (2025.2) speaks at least this microversion


class ApiError(RuntimeError):
    """Ironic answered with an HTTP error."""

    def __init__(self, method: str, path: str, code: int, body: str):
        super().__init__(f"{method} {path}: HTTP {code}: {body}")
        self.code = code


class IronicClient:
    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Content-Type": "application/json", "X-OpenStack-Ironic-API-Version": API_VERSION})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as rsp:
                raw = rsp.read()
        except urllib.error.HTTPError as e:
            raise ApiError(method, path, e.code, e.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def nodes(self, page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every node in detail, page by page (``GET /v1/nodes?fields=conductor`` fails in Ironic 39)."""
        marker = None
        while True:
            path = f"/v1/nodes/detail?limit={page}" + (f"&marker={marker}" if marker else "")
            batch = self.request("GET", path)["nodes"]
            yield from batch
            if len(batch) < page:
                return
            marker = batch[-1]["uuid"]

    def alive_conductors(self) -> list[str]:
        return [c["hostname"] for c in self.request("GET", "/v1/conductors")["conductors"] if c["alive"]]

    def wait_for(self, path: str, predicate: Callable[[Any], bool], what: str,
                 timeout: float = 60.0, interval: float = 0.2) -> Any:
        """Poll ``path`` until ``predicate`` holds; AssertionError with the last value if not."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.request("GET", path)
            if predicate(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {value}")
            time.sleep(interval)
