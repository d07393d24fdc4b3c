"""Load one Ironic service's config files into a ``ConfigOpts`` of its own, as Ironic would.

Every option is registered by Ironic's own ``register_opts`` functions (the
ones ``ironic/conf/__init__.py`` calls on the global CONF) plus oslo.db's
``[database]`` options, which oslo.db registers when the engine starts. So
types, choices, bounds and defaults are Ironic's, not copies. Each service gets
an isolated object: loading forty configs never touches ``cfg.CONF``.

A value Ironic would reject (a bad choice, a non-integer) is reported here, with
its file, instead of later as a traceback: every registered option a file sets is
read once after loading.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass, field

from oslo_config import cfg

from ironic_scale.sharding.names import machine_of, registered_name, uses_groups

API = "api"
CONDUCTOR = "conductor"


class ConfigError(ValueError):
    """A config (or unit) file is missing, unparsable, or sets a value Ironic refuses."""


def register_ironic_opts(conf: cfg.ConfigOpts) -> None:
    """Register Ironic's options on ``conf`` exactly as Ironic registers them on CONF."""
    import ironic.conf
    from ironic.conf import json_rpc
    from oslo_db import options as db_options

    for name, module in sorted(vars(ironic.conf).items()):
        if (inspect.ismodule(module) and module.__name__ == f"ironic.conf.{name}"
                and callable(getattr(module, "register_opts", None))):
            module.register_opts(conf)
    # ironic/conf/__init__.py:88 registers the json-rpc group a second time under this name.
    json_rpc.register_opts(conf, group="ironic_networking_json_rpc")
    # oslo.db registers [database] (connection, max_pool_size 5, max_overflow 50, ...) when the
    # engine starts (oslo_db/sqlalchemy/enginefacade.py); set_defaults registers the same list.
    db_options.set_defaults(conf)


def _validate(conf: cfg.ConfigOpts, files: tuple[str, ...]) -> None:
    """Read every registered option the files set, so a bad value fails now, naming its file.

    Defaults are Ironic's and valid; only values from the files need converting. Sections
    and keys Ironic does not register (other libraries' options) are left alone.
    """
    for path in files:
        sections: dict[str, dict] = {}
        cfg.ConfigParser(path, sections).parse()
        for section, keys in sections.items():
            try:
                group = conf if section == "DEFAULT" else conf[section]
            except cfg.NoSuchOptError:
                continue
            if not isinstance(group, cfg.ConfigOpts.GroupAttr | cfg.ConfigOpts):
                continue  # a [DEFAULT] option named like the section
            for key in keys:
                try:
                    getattr(group, key)
                except cfg.NoSuchOptError:
                    continue


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    # oslo.config says "from LocationInfo(location=<Locations.user: (4, True)>, detail='F')".
    return re.sub(r"from LocationInfo\(location=<[^>]*>, detail='([^']*)'\)", r"in \1", text)


@dataclass(frozen=True)
class Service:
    """One API service or one conductor process: its files and its loaded options."""

    role: str  # API or CONDUCTOR
    index: int  # 1-based, in command-line order within the role
    files: tuple[str, ...]
    conf: cfg.ConfigOpts = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        """``conductor 2 (conductor.d/2.conf)``: the last file, the one that tells instances apart."""
        return f"{self.role} {self.index} ({self.files[-1]})"

    def is_set(self, name: str, group: str | None = None) -> bool:
        """True when a config file (not a default) gives the option its value."""
        loc = self.conf.get_location(name, group)
        return loc is not None and loc.location in (cfg.Locations.user, cfg.Locations.command_line)

    @property
    def rpc_transport(self) -> str:
        return self.conf.rpc_transport

    @property
    def json_rpc(self) -> bool:
        return self.conf.rpc_transport == "json-rpc"

    @property
    def json_rpc_port(self) -> int:
        return self.conf.json_rpc.port

    @property
    def name(self) -> str:
        """The ``conductors.hostname`` this process registers (base_manager.py:112-119)."""
        return registered_name(self.conf.host, self.conf.rpc_transport, self.conf.json_rpc.port,
                               self.conf.pin_release_version)

    @property
    def machine(self) -> str:
        """The machine it runs on: its ``[DEFAULT]host`` (without any ``:port``)."""
        return machine_of(self.name)

    @property
    def group(self) -> str:
        """``[conductor]conductor_group``, lower-cased as Conductor.register stores it."""
        return (self.conf.conductor.conductor_group or "").lower()

    @property
    def ring_keys(self) -> list[str]:
        """The hash ring keys this conductor is on: ``group:hw_type`` (hash_ring.py:68-112)."""
        types = self.conf.enabled_hardware_types
        if uses_groups(self.conf.pin_release_version):
            return [f"{self.group}:{t}" for t in types]
        return list(types)


def split_files(text: str) -> tuple[str, ...]:
    """``a.conf,b.conf`` -> the files one process reads (several ``--config-file``)."""
    files = tuple(f.strip() for f in text.split(",") if f.strip())
    if not files:
        raise ConfigError(f"{text!r}: no config file given")
    return files


def load(role: str, index: int, files: tuple[str, ...]) -> Service:
    """Load one process's config files (later files override earlier ones, as oslo.config does)."""
    what = f"{role} {index}"
    for f in files:
        if not os.path.isfile(f):
            raise ConfigError(f"{what}: no such config file: {f}")
    conf = cfg.ConfigOpts()
    register_ironic_opts(conf)
    try:
        conf([], project="ironic", default_config_files=list(files), default_config_dirs=[],
             use_env=False)
        _validate(conf, files)
    except (cfg.Error, ValueError) as e:
        raise ConfigError(f"{what} ({'+'.join(files)}): {_one_line(e)}") from None
    return Service(role, index, tuple(files), conf)


def load_all(apis: list[str], conductors: list[str]) -> tuple[list[Service], list[Service]]:
    """``--api`` and ``--conductor`` values (each ``FILE[,FILE...]``) -> loaded services."""
    return ([load(API, i, split_files(a)) for i, a in enumerate(apis, 1)],
            [load(CONDUCTOR, i, split_files(c)) for i, c in enumerate(conductors, 1)])
