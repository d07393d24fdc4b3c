"""The capacity model on the committed density result and on hand-made measurements."""

import argparse
import json
from pathlib import Path

import pytest

from ironic_scale.sharding import capacity
from ironic_scale.sharding.capacity import CapacityError, Fleet, Measured, load_measurement, plan_capacity
from ironic_scale.sharding.capacity_cli import add_capacity

DENSITY = Path(__file__).resolve().parents[3] / "results" / "density-issue10.json"


def test_reads_the_density_result_and_picks_the_cheapest_method():
    m = load_measurement(DENSITY)
    assert m.method == "native-ipmi-patched" and m.size == 25000
    ipmi = load_measurement(DENSITY, "ipmi")
    assert 30 < ipmi.cpu_ms_per_node < 40
    intercept, slope = ipmi.api_rss_mib
    assert slope > 0 and 100 < intercept < 200  # the API grows with the fleet


def _measured(cpu_ms: float) -> Measured:
    return Measured("test", "m", 1000, cpu_ms, (100.0, 0.01), (150.0, 0.002))


@pytest.mark.parametrize("nodes, cpu_ms, per_host", [(5000, 10.0, 2), (20000, 3.0, 4), (3000, 50.0, 1)])
def test_the_answer_fits_after_losing_a_host_and_one_host_fewer_does_not(nodes, cpu_ms, per_host):
    fleet = Fleet(nodes, sync_interval=60, budget=0.5, per_host=per_host)
    a = plan_capacity(fleet, _measured(cpu_ms))
    assert a.capacity_per_process == int(0.5 * 60 * 1000 / cpu_ms)
    assert a.busiest_after_host_loss <= a.capacity_per_process
    assert a.busiest_after_host_loss >= a.busiest_nodes >= nodes / a.processes
    assert a.processes == a.hosts * per_host
    assert a.conductor_rss_mib == pytest.approx(100 + 0.01 * nodes)
    if a.hosts > 2:  # minimal: with one host fewer, some host's loss overloads a survivor
        fewer = a.hosts - 1
        sample = capacity._fleet_nodes(nodes, 0)
        from ironic_scale.sharding.model import RingSettings
        worst = max(capacity._busiest(fewer, per_host, sample, RingSettings(), lose=f"ironic-{h + 1}")
                    for h in range(min(fewer, capacity.HOSTS_LOST_SAMPLED)))
        assert worst > a.capacity_per_process


def test_a_node_costlier_than_the_budget_is_refused():
    with pytest.raises(CapacityError, match="more than the budget"):
        plan_capacity(Fleet(10, sync_interval=1, budget=0.1), _measured(500.0))


def test_cli_table_json_and_errors(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_capacity(parser.add_subparsers())
    args = parser.parse_args(["capacity", "--measured", str(DENSITY), "--nodes", "25000,50000"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "native-ipmi-patched" in out and "25000" in out and "50000" in out
    args = parser.parse_args(["capacity", "--measured", str(DENSITY), "--nodes", "25000", "--method", "ipmi",
                              "--format", "json"])
    assert args.func(args) == 0
    (answer,) = json.loads(capsys.readouterr().out)["answers"]
    assert answer["method"] == "ipmi" and answer["hosts"] >= 10
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "something else"}')
    for measured, method in ((bad, None), (DENSITY, "nosuch")):
        args = parser.parse_args(["capacity", "--measured", str(measured), "--nodes", "10"]
                                 + (["--method", method] if method else []))
        assert args.func(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("not an ironic-scale" in err or "no method 'nosuch'" in err)
