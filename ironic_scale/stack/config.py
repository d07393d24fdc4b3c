"""ironic.conf for each process of the local stack, rendered from deploy/stack/.

The template is a file an operator can read and change; this module only
fills in what differs per run and per process (addresses, ports, paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = "stack/ironic.conf"
LOCAL_OVERRIDES = "stack/local.conf"


class DeployDirMissing(RuntimeError):
    """The deploy/ directory with the stack's config templates was not found."""


def find_deploy_dir(explicit: str | Path | None = None) -> Path:
    """``explicit``, else ./deploy, else the checkout this package runs from."""
    candidates = [Path(explicit)] if explicit else [
        Path.cwd() / "deploy", Path(__file__).resolve().parents[2] / "deploy"]
    for path in candidates:
        if (path / TEMPLATE).is_file():
            return path
    raise DeployDirMissing(
        f"no {TEMPLATE} under {', '.join(str(p) for p in candidates)}: run from the ironic-scale "
        "checkout or pass --deploy-dir")


@dataclass(frozen=True)
class ProcessConfig:
    """What differs between the stack's processes."""

    name: str  # "ironic", "api", "conductor-1", ...
    rpc_transport: str  # "none" (all-in-one), "json-rpc" or "oslo" (RabbitMQ)
    host: str  # [DEFAULT]host: the loopback address, or with oslo also "address-2", ...
    api_host: str
    api_port: int
    db_url: str
    sync_interval: int
    json_rpc_host: str = ""  # [json_rpc]host_ip (the conductor's loopback address); default: host
    json_rpc_port: int = 8089
    transport_url: str = ""  # [DEFAULT]transport_url, with rpc_transport oslo
    # Lines of [native_ipmi] that differ per process (source_address).
    native_ipmi: dict[str, str] = field(default_factory=dict)


def _lines(options: dict[str, str]) -> str:
    return "\n".join(f"{k} = {v}" for k, v in options.items())


def render(deploy_dir: Path, work: Path, pc: ProcessConfig) -> list[Path]:
    """Write ``work/<name>.conf``; return the --config-file list (with local overrides)."""
    text = (deploy_dir / TEMPLATE).read_text().format(
        rpc_transport=pc.rpc_transport, host=pc.host, api_host=pc.api_host, api_port=pc.api_port,
        db_url=pc.db_url, sync_interval=pc.sync_interval, log_file=work / f"{pc.name}.log",
        lock_path=work / "locks", json_rpc_port=pc.json_rpc_port,
        default_extra=_lines({"transport_url": pc.transport_url} if pc.transport_url else {}),
        json_rpc_host=pc.json_rpc_host or pc.host, native_ipmi_extra=_lines(pc.native_ipmi))
    path = work / f"{pc.name}.conf"
    path.write_text(text)
    files = [path]
    local = deploy_dir / LOCAL_OVERRIDES
    if local.is_file():
        files.append(local)
    return files


def config_args(files: list[Path]) -> list[str]:
    return [arg for f in files for arg in ("--config-file", str(f))]
