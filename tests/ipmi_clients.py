"""Run the real IPMI clients (ipmitool, FreeIPMI ipmipower) against simulated BMCs."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: run deploy/install-tools.sh")


def ipmitool(ep, *args: str, password: str | None = None, user: str | None = None,
             suite: int | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run real ipmitool over lanplus against one simulated BMC."""
    need("ipmitool")
    cmd = ["ipmitool", "-I", "lanplus", "-H", ep.address, "-p", str(ep.port),
           "-U", user or ep.username, "-P", password or ep.password, "-R", "2", "-N", "1"]
    if suite is not None:
        cmd += ["-C", str(suite)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


def ipmipower(endpoints, *args: str, password: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one real FreeIPMI ipmipower over many simulated BMCs (same user/port)."""
    need("ipmipower")
    ep = endpoints[0]
    hosts = ",".join(ipmipower_host(e) for e in endpoints)
    cmd = ["ipmipower", "-D", "LAN_2_0", "-h", hosts, "-u", ep.username,
           "-p", password or ep.password]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


def ipmipower_host(ep) -> str:
    """FreeIPMI names a non-default port as HOST:PORT."""
    return ep.address if ep.port == 623 else f"{ep.address}:{ep.port}"


def ipmipower_states(output: str) -> dict[str, str]:
    """``host: state`` lines of ipmipower into a dict."""
    states = {}
    for line in output.splitlines():
        host, sep, state = line.partition(": ")
        if sep:
            states[host.strip()] = state.strip()
    return states
