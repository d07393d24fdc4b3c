"""What the native-ipmi interfaces share: cached credentials, the engine, errors.

Parsed credentials (driver_info.py) are cached per node, keyed by the
driver_info content, so the power-sync hot path does no parsing; nothing
here but ``run`` talks to a BMC.
"""

from __future__ import annotations

import collections
import copy
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ironic.common import exception
from ironic.conf import CONF
from oslo_log import log as logging

from ironic_scale import conf as ns_conf
from ironic_scale.drivers import driver_info
from ironic_scale.drivers.metrics import REPORTER
from ironic_scale.ipmi import errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.ipmi.engine import Engine, EngineConfig, get_engine

LOG = logging.getLogger(__name__)

ns_conf.register_opts(CONF)

# The same fields, with the same help, as the ipmitool interfaces.
COMMON_PROPERTIES = driver_info.COMMON_PROPERTIES
parse_driver_info = driver_info.parse_driver_info

T = TypeVar("T")


class _CredentialCache:
    """Parsed credentials per node, valid while the node's driver_info is unchanged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[str, tuple[dict, BmcCredentials]] = (
            collections.OrderedDict())

    def get(self, node: Any) -> BmcCredentials:
        info = node.driver_info or {}
        with self._lock:
            hit = self._entries.get(node.uuid)
            if hit is not None and hit[0] == info:
                self._entries.move_to_end(node.uuid)
                return hit[1]
        creds = parse_driver_info(node)
        with self._lock:
            old = self._entries.pop(node.uuid, None)
            self._entries[node.uuid] = (copy.deepcopy(info), creds)
            while len(self._entries) > CONF.native_ipmi.session_cache_size:
                self._entries.popitem(last=False)
        if old is not None and old[1].session_key != creds.session_key:
            # New password, user or key: log the old session out now to give
            # its slot back to the BMC instead of waiting for idle_timeout.
            engine().close(old[1])
        return creds

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _CredentialCache()


def credentials(node: Any) -> BmcCredentials:
    """The node's BMC credentials; parsed once per driver_info change, no BMC traffic."""
    return _CACHE.get(node)


# -- engine ---------------------------------------------------------------------------

def check_config() -> None:
    """Check the ``[native_ipmi]`` options that no node can fix, when Ironic loads the
    interfaces: a bad value stops the conductor at start-up with the option named,
    instead of failing every power poll later.

    :raises: InvalidParameterValue (Ironic reports it as DriverLoadError).
    """
    try:
        # Either family is fine: it is used for the BMCs of its family (engine.bind_address).
        ns_conf.source_address(CONF)
    except ValueError as e:
        hint = "" if "unset" in str(e) else (
            "; set it to an address of this host, or leave it unset to let the kernel pick one")
        raise exception.InvalidParameterValue(f"{e}{hint}.") from None


def _engine_config() -> EngineConfig:
    config = ns_conf.engine_config(CONF)
    LOG.info("native-ipmi: BMC sessions unused for %.0f s are logged out (%s)", config.idle_timeout,
             "[native_ipmi]idle_timeout" if CONF.native_ipmi.idle_timeout is not None else
             f"{ns_conf.IDLE_CYCLES} x [conductor]sync_power_state_interval, at least "
             f"{ns_conf.IDLE_FLOOR:.0f} s")
    return config


def engine() -> Engine:
    """The process-wide IPMI engine, configured from ``[native_ipmi]`` on first use.

    A forked child (Ironic's cotyledon worker) gets a fresh one: get_engine forgets
    the parent's at fork.
    """
    return get_engine(_engine_config)


# -- running a command ----------------------------------------------------------------


def run(node: Any, what: str, command: Callable[..., T], *args: Any) -> T:
    """Run ``command(engine, creds, *args, timeout)`` for ``node``.

    Any IPMI failure becomes Ironic's IPMIFailure, carrying the BMC's
    completion code or the timeout/login reason (never a password).
    """
    creds = credentials(node)
    eng = engine()
    try:
        return command(eng, creds, *args, CONF.native_ipmi.command_timeout)
    except (errors.IPMIError, TimeoutError) as e:
        raise ipmi_failure(node, creds, what, e) from e
    finally:
        REPORTER.maybe_report(eng)


def ipmi_failure(node: Any, creds: BmcCredentials, what: str, error: Exception) -> exception.IPMIFailure:
    """Log an IPMI failure for ``node`` and return it as Ironic's IPMIFailure (no secret in it)."""
    REPORTER.failed(error)
    reason = str(error) or type(error).__name__
    LOG.warning("IPMI %(what)s failed for node %(node)s (BMC %(bmc)s): %(error)s",
                {"what": what, "node": node.uuid, "bmc": creds.target, "error": reason})
    return exception.IPMIFailure(cmd=f"{what} for node {node.uuid}: {reason}")
