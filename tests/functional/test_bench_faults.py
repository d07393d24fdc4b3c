"""Fault mixes: with dead BMCs, packet loss and latency together, every healthy BMC still
answers with its true state and every dead one is reported failed, never with a state."""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys

import pytest

from ironic_scale.bench.faults import FaultSettings, fault_list
from ironic_scale.bench.verdict import expected_states, judge
from ironic_scale.sim.inventory import Endpoint


def test_all_faults_healthy_nodes_correct_dead_nodes_failed(tmp_path):
    out = tmp_path / "faults.json"
    # 40 BMCs, 10% dead (4); 20 ms latency and a 5 s deadline keep it short.
    res = subprocess.run(
        [sys.executable, "-m", "ironic_scale.cli", "bench", "--sizes", "40", "--faults", "none,all",
         "--dead-fraction", "0.1", "--loss", "0.05", "--latency", "20ms", "--timeout", "5",
         "--methods", "ipmipower,native", "--repeats", "1",
         "--address", f"127.{random.randint(100, 199)}.{random.randint(0, 250)}.1",
         "--json", str(out), "--plot", str(tmp_path / "faults.png")],
        capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(out.read_text())
    clean, fleet = doc["fleets"]
    assert clean["sim_args"] == [] and clean["requests"].get("drop.dead", 0) == 0
    assert fleet["sim_args"] == ["--dead-fraction", "0.1", "--loss", "0.05", "--latency", "20ms"]
    assert fleet["requests"].get("drop.dead", 0) > 0 and fleet["requests"].get("drop.loss", 0) > 0
    assert {r["method"] for r in doc["rows"]} == {"ipmipower", "native"}
    for row in doc["rows"]:
        assert row["correct"] is True, row["runs"][0]["examples"]
        [run] = row["runs"]
        dead = 4 if row["fault"] == "all" else 0
        assert run["failed"] == dead and run["missed"] == 0 and run["wrong"] == 0, run
        assert run["on"] + run["off"] == 40 - dead
        assert sum(run["failure_reasons"].values()) == dead  # why: e.g. "connection timeout"
    assert "40 BMCs, faults: all" in res.stdout
    summary = res.stdout[res.stdout.index("fault mixes at 40 BMCs"):].splitlines()
    assert summary[1].split() == ["method", "none", "all"]
    assert all(line.split()[2::2] == ["ok", "ok"] for line in summary[3:5]), summary


def test_fault_mix_options():
    s = FaultSettings(dead_fraction=0.01, loss=0.05, latency="200ms")
    assert s.sim_args("none") == []
    assert s.sim_args("dead") == ["--dead-fraction", "0.01"]
    assert s.sim_args("all") == ["--dead-fraction", "0.01", "--loss", "0.05", "--latency", "200ms"]
    assert s.sim_args("loss10") == ["--loss", "0.1"] and s.sim_args("loss30") == ["--loss", "0.3"]
    assert s.sim_args("loss100") == ["--loss", "1.0"] and s.sim_args("loss0") == ["--loss", "0.0"]
    assert fault_list("none,loss10,loss30,loss10") == ["none", "loss10", "loss30"]
    for bad in ("loss101", "lossy", "loss-5", "loss 10", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            fault_list(bad)
    with pytest.raises(ValueError):
        s.sim_args("loss101")


def test_verdict_dead_must_fail_healthy_must_answer_truly():
    eps = [Endpoint("127.100.0.1", 623, "u", "p"), Endpoint("127.100.0.2", 623, "u", "p"),
           Endpoint("127.100.0.3", 623, "u", "p", dead=True)]
    expected = expected_states(eps, {"127.100.0.1:623"})
    ok = judge({"127.100.0.1:623": "on", "127.100.0.2:623": "off", "127.100.0.3:623": "error"},
               eps, expected)
    assert ok.ok and ok.failed == 1 and ok.on == 1 and ok.off == 1
    dead_answers = judge({"127.100.0.1:623": "on", "127.100.0.2:623": "off",
                          "127.100.0.3:623": "off"}, eps, expected)
    assert not dead_answers.ok and dead_answers.wrong == 1
    missed = judge({"127.100.0.1:623": "on"}, eps, expected)
    assert not missed.ok and missed.missed == 1 and missed.wrong == 0
    wrong = judge({"127.100.0.1:623": "off", "127.100.0.2:623": "off"}, eps, expected)
    assert wrong.wrong == 1 and "reported 'off', is 'on'" in wrong.examples[0]
