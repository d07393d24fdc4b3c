"""Stock and patched Ironic put through the same power-sync script must end up alike.

The same simulated fleet and the same script of events (tests/integration/differential/
script.py: out-of-band power changes, dead BMCs that come back, maintenance over REST, a
node locked by a running reboot, nodes in deploy and inspect wait, a wrong password, an
unknown power state, nodes whose matching power still leaves the sync work to do) run under
stock Ironic 39 and under the patch series with ``[conductor]bulk_power_sync = true``.
After every sync cycle and at the end, every node's fields (script.FIELDS: power and target
power state, provision state, maintenance and its reason, fault, last_error, reservation,
boot mode, secure boot, properties) must be the same in both runs, and so must the Chassis
Control requests each simulated BMC received, in order.

Both runs use the native-ipmi driver (the one whose power interface has the bulk method),
each on a fresh simulator and a fresh all-in-one Ironic on SQLite; they run one after the
other on the same loopback addresses (BMCs from 127.180.0.1, conductor 127.101.0.1), so
Ironic's messages can be compared as text. About 50 s each.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.differential import compare, runner, script
from tests.integration.differential.runner import Side, Trace

BULK = {"conductor": {"bulk_power_sync": "true"}}


# The patched sync's own debug line (patch 0004), once per cycle.
BULK_LINE = re.compile(r"Bulk power sync: (?P<unchanged>\d+) nodes unchanged, "
                       r"(?P<slow>\d+) synced one by one")


def patched_side(work: Path) -> Side:
    """The patch series applied to a copy of the installed Ironic, first on PYTHONPATH, flag on."""
    tree = pytest.importorskip("ironic_scale.patches.tree", reason="needs `ironic-scale patches` (issue 10)")
    copy = tree.patched_copy(work / "ironic-patched")
    return Side("patched", python_path=(str(copy),), options=BULK)


def bulk_option_registered(side: Side) -> bool:
    """Whether the Ironic that ``side`` runs knows ``[conductor]bulk_power_sync``.

    oslo.config ignores unknown options in a config file, so without this a copy that
    was not patched (or not first on the path) would pass as stock against stock.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*side.python_path, os.environ.get("PYTHONPATH", "")]))
    probe = ("import ironic.conf; from ironic.conf import CONF; "
             "print(CONF.conductor.bulk_power_sync is False)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    return proc.returncode == 0 and proc.stdout.strip() == "True"


def unmet_premises(trace: Trace) -> list[str]:
    """Where a run did not do what the script says stock Ironic does (script.EXPECTED_*)."""
    out = []
    for (k, role), fields in script.EXPECTED_AT.items():
        node = trace.checkpoints[k - 1][role]
        for f, want in fields.items():
            if compare.normalise(node[f], trace.uuids) != want:
                out.append(f"after cycle {k}, {role}.{f} = {node[f]!r}, expected {want!r}")
    for role in script.ROLE_NAMES:
        actions, expected = [a for _, a in trace.power_logs[role]], script.EXPECTED_POWER_LOGS.get(role, [])
        if actions != expected:
            out.append(f"{role}: Chassis Control {actions}, expected {expected}")
        enrolled = next(r.power for r in script.ROLES if r.name == role)
        if trace.bmc_power[role] != script.EXPECTED_BMC_POWER.get(role, enrolled):
            out.append(f"{role}: host power {trace.bmc_power[role]!r} at the end")
    log = "\n".join(compare.normalise(line, trace.uuids) for line in trace.log_lines)
    for role, (text, times) in script.EXPECTED_LOG.items():
        if log.count(text) != times:
            out.append(f"{role}: the conductor logged {text!r} {log.count(text)} times, expected {times}")
    # During the whole cycle after the reboot was asked for, its node was locked (EXPECTED_AT)
    # and its BMC said "off" against the database's "on": what a sync that ignored the lock
    # would have "corrected".
    (k,) = [k for k, events in script.STEPS.items() if any(e.kind == "reboot" for e in events)]
    settle = next(r.settle for r in script.ROLES if r.name == "locked")
    sent = {a: t for t, a in trace.power_logs["locked"]}
    cycle = trace.cycles[k]  # cycle k + 1
    shows_off = (sent["off"] + settle, sent["on"] + settle) if {"off", "on"} <= sent.keys() else (0, 0)
    if not shows_off[0] < cycle.start < cycle.end < shows_off[1]:
        out.append(f"locked: its BMC did not report 'off' throughout cycle {k + 1}")
    return out


def bulk_cycles(trace: Trace) -> list[tuple[int, int]]:
    """(unchanged, synced one by one) of every bulk sync cycle the conductor logged."""
    return [(int(m["unchanged"]), int(m["slow"])) for m in map(BULK_LINE.search, trace.log_lines) if m]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("differential")


@pytest.fixture(scope="module")
def stock(work) -> Trace:
    return runner.play(Side("stock"), work / "stock")


@pytest.fixture(scope="module")
def patched(work, stock) -> Trace:  # after stock: the runs share addresses, so never overlap
    side = patched_side(work)
    assert bulk_option_registered(side), f"{side.python_path} holds no Ironic with bulk_power_sync"
    return runner.play(side, work / "patched")


def test_the_stock_run_meets_every_premise_of_the_script(stock):
    assert not unmet_premises(stock), "\n".join(unmet_premises(stock))
    assert not bulk_cycles(stock)


def test_the_patched_run_settled_the_steady_nodes_in_bulk_every_cycle(patched):
    # Without this a patched run whose bulk path never ran would pass as stock against stock.
    steady = sum(r.name.startswith("steady-") for r in script.ROLES)
    cycles = bulk_cycles(patched)
    assert len(cycles) >= script.CYCLES, cycles
    assert all(unchanged >= steady for unchanged, _ in cycles), cycles
    assert any(slow for _, slow in cycles), "no node was ever left to the per-node sync"


def test_patched_sync_leaves_every_node_and_bmc_as_stock_does(stock, patched):
    diffs = compare.differences(stock, patched)
    assert not diffs, compare.report(diffs, stock, patched)
