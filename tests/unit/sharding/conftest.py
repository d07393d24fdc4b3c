"""A deployment of config files written to tmp_path, and ``ironic-scale check`` run on it in-process.

The baseline passes every check: 2 machines x 2 json-rpc conductors (own ports, console
ranges and cache dirs), one API with 2 workers, small DB pools, exponent 7, a unit with
TimeoutStopSec=2min. Each test changes one thing and looks at the check it trips.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

DB = "postgresql+psycopg2://ironic:secret@db.example.net/ironic"
MACHINES = ("ctl-a.example.net", "ctl-b.example.net")


def render(sections: dict[str, dict[str, object]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items()) + "\n"
                   for name, opts in sections.items())


class Deployment:
    def __init__(self, root: Path):
        self.root = root
        self.base = {
            "DEFAULT": {"rpc_transport": "json-rpc", "hash_partition_exponent": 7,
                        "enabled_hardware_types": "ipmi"},
            "database": {"connection": DB, "max_pool_size": 2, "max_overflow": 3},
        }
        self.api = copy.deepcopy(self.base)
        self.api["api"] = {"api_workers": 2}
        self.instances: dict[str, dict] = {}
        for m, machine in enumerate(MACHINES):
            for i in (1, 2):
                tag = f"{'ab'[m]}{i}"
                self.instances[tag] = {
                    "DEFAULT": {"host": machine},
                    "json_rpc": {"port": 8088 + i},
                    "console": {"port_range": f"{10000 + i * 1000}:{10999 + i * 1000}"},
                    "pxe": {"tftp_master_path": f"/var/lib/ironic/{tag}/tftp",
                            "instance_master_path": f"/var/lib/ironic/{tag}/images"},
                    "deploy": {"iso_master_path": f"/var/lib/ironic/{tag}/iso"},
                }
        self.unit = ("[Unit]\nDescription=Ironic conductor %i\n\n[Service]\n"
                     "ExecStart=/usr/bin/ironic-conductor\nTimeoutStopSec=2min\n")
        self.with_api = True

    def set(self, tag: str, section: str, **values: object) -> None:
        """Set options in one instance's drop-in (tag a1..b2), the API's (``api``) or the base (``base``)."""
        target = self.api if tag == "api" else self.base if tag == "base" else self.instances[tag]
        target.setdefault(section, {}).update(values)

    def unset(self, tag: str, section: str, option: str) -> None:
        target = self.api if tag == "api" else self.base if tag == "base" else self.instances[tag]
        target[section].pop(option)

    def write(self, name: str, text: str) -> str:
        path = self.root / name
        path.write_text(text)
        return str(path)

    def args(self) -> list[str]:
        base = self.write("ironic.conf", render(self.base))
        out = ["--api", self.write("api.conf", render(self.api))] if self.with_api else []
        for tag, sections in self.instances.items():
            out += ["--conductor", f"{base},{self.write(f'{tag}.conf', render(sections))}"]
        if self.unit is not None:
            out += ["--unit", self.write("ironic-conductor@.service", self.unit)]
        return out


class Report:
    def __init__(self, code: int, doc: dict):
        self.code, self.doc = code, doc

    def lines(self, check: str) -> list[tuple[str, str]]:
        found = [(c["code"], c["details"]) for c in self.doc["checks"] if c["check"] == check]
        assert found, f"no result for {check}"
        return found

    def codes(self, check: str) -> set[str]:
        return {code for code, _ in self.lines(check)}

    def details(self, check: str) -> str:
        return "\n".join(d for _, d in self.lines(check))

    def failing(self) -> dict[str, set[str]]:
        return {c["check"]: self.codes(c["check"]) for c in self.doc["checks"] if c["code"] != "SUCCESS"}


@pytest.fixture
def deployment(tmp_path) -> Deployment:
    return Deployment(tmp_path)


@pytest.fixture
def lint(capsys):
    """Run ``ironic-scale check ARGS --format json`` in-process; return its exit code and report."""

    def run(args: list[str]) -> Report:
        capsys.readouterr()
        code = main(["check", *args, "--format", "json"])
        out = capsys.readouterr().out
        return Report(code, json.loads(out))

    return run


main = run_cli


@pytest.fixture(autouse=True)
def _forget_parsed_config_files():
    """`ring --config-file` parses into Ironic's global CONF, as a service would: drop the files after."""
    yield
    from ironic.conf import CONF
    from oslo_config import cfg

    try:
        parsed = CONF.config_file
    except cfg.NoSuchOptError:  # never parsed, or reset by an Ironic TestCase's config fixture
        return
    if parsed:
        CONF.clear()
