"""Read an ironic.conf the way Ironic does: its own registered options, in a private ConfigOpts.

Defaults, types, deprecated names ([DEFAULT]graceful_shutdown_timeout for
[conductor]graceful_shutdown_timeout) and value checks all come from Ironic's
option modules (ironic/conf/*.py, each one's ``register_opts``) and oslo.db's
[database] options, never from a copy. The global ``cfg.CONF`` is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from oslo_config import cfg

from ironic_scale.sharding.confload import register_ironic_opts


def ironic_options() -> cfg.ConfigOpts:
    """A new ConfigOpts holding every option Ironic registers, plus oslo.db's [database] options."""
    conf = cfg.ConfigOpts()
    register_ironic_opts(conf)
    return conf


def load(files: Sequence[str | Path]) -> cfg.ConfigOpts:
    """Ironic's options with ``files`` applied in order (later files win, as with --config-file)."""
    for f in files:
        if not Path(f).is_file():
            raise ValueError(f"config file {f} not found")
    conf = ironic_options()
    try:
        conf(args=[], project="ironic", default_config_files=[str(f) for f in files],
             default_config_dirs=[], use_env=False)
    except cfg.Error as e:
        raise ValueError(f"cannot read {', '.join(map(str, files))}: {_one_line(e)}") from None
    return conf


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


@dataclass(frozen=True)
class BaseSettings:
    """What the generator takes from the base config (its effective values, defaults included)."""

    path: Path
    rpc_transport: str
    pin_release_version: str | None
    hash_partition_exponent: int
    hash_ring_algorithm: str
    hash_ring_reset_interval: int
    graceful_shutdown_timeout: int  # [conductor]; 0 means "wait for ever"
    json_rpc_port: int
    db_connection: str | None
    max_pool_size: int | None  # oslo.db: 0 means no limit
    max_overflow: int | None
    tftp_master_path: str  # "" disables that cache
    instance_master_path: str
    iso_master_path: str

    @classmethod
    def read(cls, path: str | Path) -> BaseSettings:
        conf = load([path])
        try:
            return cls(
                path=Path(path), rpc_transport=conf.rpc_transport,
                pin_release_version=conf.pin_release_version,
                hash_partition_exponent=conf.hash_partition_exponent,
                hash_ring_algorithm=conf.hash_ring_algorithm,
                hash_ring_reset_interval=conf.hash_ring_reset_interval,
                graceful_shutdown_timeout=conf.conductor.graceful_shutdown_timeout,
                json_rpc_port=conf.json_rpc.port,
                db_connection=conf.database.connection,
                max_pool_size=conf.database.max_pool_size, max_overflow=conf.database.max_overflow,
                tftp_master_path=conf.pxe.tftp_master_path or "",
                instance_master_path=conf.pxe.instance_master_path or "",
                iso_master_path=conf.deploy.iso_master_path or "")
        except (cfg.Error, ValueError) as e:  # a value that fails its option's type or choices
            raise ValueError(f"{path}: {_one_line(e)}") from None
