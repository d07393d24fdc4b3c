"""Ring settings and take-over timing from Ironic's own options (its defaults, or a config file).

Values come from ``ironic.conf.CONF`` so defaults and types are Ironic's; a
config file given on the command line is parsed into it the way a service would.
"""

from __future__ import annotations

from dataclasses import dataclass

from ironic_scale.sharding.model import RingSettings
from ironic_scale.sharding.names import uses_groups


def load_config(config_files: list[str]) -> None:
    """Parse ``config_files`` into Ironic's global CONF (as ``ironic-conductor --config-file`` would)."""
    from ironic.conf import CONF

    CONF(["--config-file=" + f for f in config_files], project="ironic", default_config_files=[],
         default_config_dirs=[])


def ring_settings(exponent: int | None = None, algorithm: str | None = None) -> RingSettings:
    """CONF's ring settings; explicit arguments win."""
    from ironic.conf import CONF

    return RingSettings(exponent=CONF.hash_partition_exponent if exponent is None else exponent,
                        algorithm=algorithm or CONF.hash_ring_algorithm,
                        use_groups=uses_groups(CONF.pin_release_version))


@dataclass(frozen=True)
class Timing:
    """The intervals that decide how fast nodes change hands (seconds)."""

    hash_ring_reset_interval: int
    heartbeat_interval: int
    heartbeat_timeout: int
    graceful_shutdown_timeout: int
    sync_local_state_interval: int
    periodic_max_workers: int
    check_provision_state_interval: int
    sync_power_state_interval: int

    @classmethod
    def from_conf(cls) -> Timing:
        from ironic.conf import CONF

        c = CONF.conductor
        return cls(CONF.hash_ring_reset_interval, c.heartbeat_interval, c.heartbeat_timeout,
                   c.graceful_shutdown_timeout, c.sync_local_state_interval, c.periodic_max_workers,
                   c.check_provision_state_interval, c.sync_power_state_interval)

    def routing_after_stop(self) -> int:
        """Upper bound until every API and conductor routes around a gracefully stopped conductor."""
        return self.hash_ring_reset_interval

    def routing_after_crash(self) -> int:
        """Upper bound for a killed one: its heartbeat goes stale, then every ring cache expires."""
        return self.heartbeat_timeout + self.hash_ring_reset_interval

    def first_poll_after_stop(self) -> int:
        """Upper bound until a survivor power-polls a moved node after a graceful stop."""
        return self.routing_after_stop() + self.sync_power_state_interval

    def first_poll_after_crash(self) -> int:
        return self.routing_after_crash() + self.sync_power_state_interval

    def takeover_seconds(self, active_nodes_per_new_owner: int) -> int:
        """ACTIVE nodes a conductor takes over: ``periodic_max_workers`` per ``sync_local_state_interval``.

        (``_sync_local_state`` in ironic/conductor/manager.py stops after that many
        take-overs per run.) The first run comes at most one interval after the move.
        """
        if active_nodes_per_new_owner <= 0:
            return 0
        runs = -(-active_nodes_per_new_owner // max(1, self.periodic_max_workers))
        return runs * self.sync_local_state_interval
