"""`ironic-scale` loads, and `bench` runs its parser, in a venv without Ironic (README's first command).

The `[bench]` extra installs no Ironic, oslo libraries, tooz or openstacksdk; this runs the
command's parser in a Python that refuses to import them, so a top-level import of one of them
anywhere on the command's import path fails here rather than on an operator's machine.
"""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
BLOCKED = ("ironic", "oslo_", "tooz", "openstack", "keystoneauth1", "sqlalchemy", "pymysql", "psycopg2")

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(BLOCKED) and not name.startswith("ironic_scale"):
            raise ModuleNotFoundError(f"blocked for this test: {name}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
from ironic_scale.cli import build_parser
parser = build_parser()
args = parser.parse_args(["bench", "--count", "5"])
assert args.command == "bench"
for argv in (["ring", "balance", "--member", "a"],
             ["conductors", "capacity", "--measured", "x", "--nodes", "1"], ["check", "--conductor", "x"],
             ["rebalance", "--event", "stop"], ["stack", "status", "--work", "w"],
             ["preflight", "--baseline", "b.json", "--density-drivers", "native-ipmi",
              "--methods", "native"]):
    parser.parse_args(argv)
print("loaded")
"""


def test_the_command_and_every_parser_load_without_ironic():
    res = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "loaded", res.stderr[-3000:]
