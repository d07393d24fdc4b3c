"""A private RabbitMQ broker for one stack, owned by its work directory.

Not Debian's system service (whose wrapper, run as root, switches to the
``rabbitmq`` user and its /var/lib/rabbitmq): ``/usr/lib/rabbitmq/bin/rabbitmq-server``
runs as the caller with every path under the work directory (RABBITMQ_MNESIA_BASE,
RABBITMQ_LOGS, HOME for the Erlang cookie), its own node name, AMQP port and
distribution port, all on 127.0.0.1, and an empty plugin list. Erlang's port mapper
(epmd) would otherwise be started as a daemon that outlives the broker, or be
shared with any other Erlang node on the machine: the stack runs its own ``epmd``
in the foreground on a port of its own (ERL_EPMD_PORT) and stops it after the broker.

Ironic connects as RabbitMQ's default ``guest`` user, which RabbitMQ only accepts
from loopback (``loopback_users``): that is all a loopback stack needs.

``rabbitmqctl`` reaches the broker with the three variables stack.json keeps as
``rabbitmqctl_env`` (the cookie's HOME, the epmd port, the node name), e.g.
``env HOME=... ERL_EPMD_PORT=... RABBITMQ_NODENAME=... /usr/lib/rabbitmq/bin/rabbitmqctl
list_queues name consumers`` shows each conductor's own queue.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # the real script behind Debian's /usr/sbin wrapper
USER = PASSWORD = "guest"


class RabbitMQUnavailable(RuntimeError):
    """RabbitMQ is not installed, or the private broker would not start."""


@dataclass(frozen=True)
class Broker:
    """Where one private broker keeps its files and listens."""

    base: Path
    port: int  # AMQP
    dist_port: int  # Erlang distribution (rabbitmqctl talks to the node through it)
    epmd_port: int

    @classmethod
    def in_work(cls, work: Path, port: int, dist_port: int, epmd_port: int) -> "Broker":
        return cls(base=work / "rabbitmq", port=port, dist_port=dist_port, epmd_port=epmd_port)

    @property
    def nodename(self) -> str:
        return "rabbit-" + hashlib.sha1(str(self.base).encode()).hexdigest()[:10] + "@localhost"

    @property
    def url(self) -> str:
        """oslo.messaging's ``[DEFAULT]transport_url``."""
        return f"rabbit://{USER}:{PASSWORD}@127.0.0.1:{self.port}/"

    @property
    def log(self) -> Path:
        return self.base.with_name("rabbitmq.log")

    @property
    def config(self) -> Path:
        return self.base / "rabbitmq.conf"

    def ctl_environment(self) -> dict[str, str]:
        """What ``rabbitmqctl`` needs, besides our environment, to talk to this broker."""
        return {"HOME": str(self.base), "ERL_EPMD_PORT": str(self.epmd_port),
                "RABBITMQ_NODENAME": self.nodename}

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "HOME": str(self.base),  # the Erlang cookie: private to this broker
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_LOGS": str(self.log),
            "RABBITMQ_PID_FILE": str(self.base / "rabbitmq.pid"),
            "RABBITMQ_CONFIG_FILE": str(self.config.with_suffix("")),  # RabbitMQ adds .conf
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),  # not /etc/rabbitmq's
            # The distribution listener binds every interface unless told otherwise; and the VM
            # must not start an epmd of its own (a daemon nobody stops) if ours is gone.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1} "
                                                   "-start_epmd false",
        })
        return env


def check_installed() -> None:
    if not (Path(SERVER).is_file() and shutil.which("epmd")):
        raise RabbitMQUnavailable(
            "RabbitMQ is not installed: run deploy/install-tools.sh (it installs Debian's "
            "rabbitmq-server) or apt-get install rabbitmq-server")


def prepare(broker: Broker) -> None:
    """A fresh broker directory with its config files (what an earlier run left is removed)."""
    check_installed()
    shutil.rmtree(broker.base, ignore_errors=True)
    broker.base.mkdir(parents=True)
    (broker.base / "rabbitmq-env.conf").write_text("")
    (broker.base / "enabled_plugins").write_text("[].\n")
    broker.config.write_text("# private broker of an ironic-scale stack: loopback only\n"
                             "loopback_users.guest = true\n")


def epmd_command(broker: Broker) -> list[str]:
    """epmd in the foreground, so it is the stack's process (``-daemon`` would detach it)."""
    return [shutil.which("epmd") or "epmd", "-port", str(broker.epmd_port), "-address", "127.0.0.1"]


def wait_epmd(broker: Broker, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Until our epmd listens: a VM started before that would fail to register."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", broker.epmd_port), timeout=1).close()
            return
        except OSError as e:
            error = e
        if proc.poll() is not None or time.monotonic() > deadline:
            path = broker.base.with_name("epmd.stderr.log")
            stderr = path.read_text(errors="replace")[-1000:] if path.exists() else ""
            raise RabbitMQUnavailable(f"epmd on port {broker.epmd_port} did not start ({error}): {stderr}")
        time.sleep(0.02)


def server_command() -> list[str]:
    return [SERVER]


def ctl_command() -> str:
    return str(Path(SERVER).with_name("rabbitmqctl"))


def wait_ready(broker: Broker, procs: list[subprocess.Popen], timeout: float = 90.0) -> None:
    """Until an AMQP client can log in (the broker opens its AMQP listener last when booting)."""
    import amqp

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = amqp.Connection(f"127.0.0.1:{broker.port}", userid=USER, password=PASSWORD,
                                   connect_timeout=2)
            conn.connect()
            conn.close()
            return
        except (OSError, amqp.exceptions.AMQPError) as e:
            error = e
        for proc in procs:
            if proc.poll() is not None:
                raise RabbitMQUnavailable(f"{proc.args[0]} exited with status {proc.returncode}: "
                                          f"{log_tail(broker)}")
        if time.monotonic() > deadline:
            raise RabbitMQUnavailable(f"RabbitMQ not ready in {timeout:.0f} s ({error}): {log_tail(broker)}")
        time.sleep(0.1)


def log_tail(broker: Broker, lines: int = 15) -> str:
    out = []
    for path in (broker.log, broker.base.with_name("rabbitmq.stderr.log")):
        if path.exists():
            out += path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(out) or "(no log)"
