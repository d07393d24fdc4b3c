"""A private MariaDB server for one stack, owned by its work directory.

Not Debian's system service: ``mariadb-install-db`` writes a fresh data directory
under the work directory and ``mariadbd --no-defaults`` serves it on 127.0.0.1 and
a port of its own, so stacks of concurrent tests never share a server, nothing in
/etc/mysql applies, and ``stack down`` stops it with the rest of the stack. Both
take about a second. The ``ironic`` user and database come from an init file the
server runs at start, so no admin connection (and no client binary) is needed.
Ironic reaches it with PyMySQL (``mysql+pymysql://``), the driver OpenStack's
install guides use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

USER = "ironic"
PASSWORD = "ironic-scale-stack"  # loopback-only test database, never a production one
DATABASE = "ironic"
# Unix sockets have a 108-byte path limit (sun_path); longer work paths get one in the temp dir.
SOCKET_PATH_MAX = 100


class MariaDBUnavailable(RuntimeError):
    """MariaDB is not installed, or the private server would not start."""


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise MariaDBUnavailable(
            f"{name} not found: MariaDB is not installed: run deploy/install-tools.sh "
            "(it installs Debian's mariadb-server) or apt-get install mariadb-server")
    return found


@dataclass(frozen=True)
class Server:
    """Where one private server keeps its files and listens."""

    datadir: Path
    socket: Path
    port: int
    log: Path

    @classmethod
    def in_work(cls, work: Path, port: int) -> "Server":
        socket = work / "mariadb.sock"
        if len(str(socket)) > SOCKET_PATH_MAX:
            digest = hashlib.sha1(str(work).encode()).hexdigest()[:12]
            socket = Path(tempfile.gettempdir()) / f"ironic-scale-mariadb-{digest}.sock"
        return cls(datadir=work / "mariadb", socket=socket, port=port, log=work / "mariadb.log")

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the stack's database, as the ``ironic`` user over TCP."""
        return f"mysql+pymysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}?charset=utf8mb4"

    @property
    def init_file(self) -> Path:
        return self.datadir.with_name("mariadb-init.sql")


def install(server: Server) -> None:
    """A fresh data directory (what an earlier run left there is removed)."""
    shutil.rmtree(server.datadir, ignore_errors=True)
    cmd = [binary("mariadb-install-db"), "--no-defaults", f"--datadir={server.datadir}",
           "--auth-root-authentication-method=socket", "--skip-test-db", *_user_args()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise MariaDBUnavailable(f"mariadb-install-db failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    server.init_file.write_text(
        f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4;\n"
        f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n"
        f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{USER}'@'%';\n")


def _user_args() -> list[str]:
    # mariadbd refuses to run as root unless told to; the data directory is ours either way.
    return ["--user=root"] if os.geteuid() == 0 else []


def command(server: Server, max_connections: int) -> list[str]:
    """The server's command line: loopback only, everything under the work directory."""
    return [binary("mariadbd"), "--no-defaults", f"--datadir={server.datadir}",
            f"--socket={server.socket}", f"--port={server.port}", "--bind-address=127.0.0.1",
            "--skip-name-resolve", f"--pid-file={server.datadir / 'mariadbd.pid'}",
            f"--log-error={server.log}", f"--init-file={server.init_file}",
            f"--max-connections={max_connections}", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci", *_user_args()]


def wait_ready(server: Server, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the ``ironic`` user can log in over TCP (the init file has run by then)."""
    import pymysql

    deadline = time.monotonic() + timeout
    while True:
        try:
            pymysql.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD,
                            database=DATABASE, connect_timeout=2).close()
            return
        except pymysql.err.MySQLError as e:
            error = e
        if proc.poll() is not None:
            raise MariaDBUnavailable(f"mariadbd exited with status {proc.returncode}: {log_tail(server)}")
        if time.monotonic() > deadline:
            raise MariaDBUnavailable(f"mariadbd not ready in {timeout:.0f} s ({error}): {log_tail(server)}")
        time.sleep(0.05)


def log_tail(server: Server, lines: int = 15) -> str:
    if not server.log.exists():
        return "(no log)"
    return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])


def drop(datadir: Path) -> None:
    """Remove a stopped server's data directory: its database and everything else it held."""
    shutil.rmtree(datadir, ignore_errors=True)
