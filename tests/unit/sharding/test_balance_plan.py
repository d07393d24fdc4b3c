"""Balance, exponent advice, what-if plans and validation on synthetic clusters (no I/O)."""

import random
import uuid
from collections import Counter

import pytest

from ironic_scale.sharding import names
from ironic_scale.sharding.balance import balance, random_max_over_mean, recommend_exponent
from ironic_scale.sharding.model import Cluster, Conductor, Node, RingSettings
from ironic_scale.sharding.plan import PlanError, make_plan, parse_change
from ironic_scale.sharding.ring import predict
from ironic_scale.sharding.settings import Timing
from ironic_scale.sharding.validate import validate

TIMING = Timing(hash_ring_reset_interval=15, heartbeat_interval=10, heartbeat_timeout=60,
                graceful_shutdown_timeout=60, sync_local_state_interval=180, periodic_max_workers=8,
                check_provision_state_interval=60, sync_power_state_interval=60)


def _nodes(count: int, seed: int = 3, states=("active", "available"), driver="ipmi", group=""):
    rng = random.Random(seed)
    return [Node(str(uuid.UUID(int=rng.getrandbits(128), version=4)), driver, group, rng.choice(states))
            for _ in range(count)]


def _hosts(hosts: int, per_host: int):
    return [Conductor(i.name, "", {"ipmi"}, machine=i.machine)
            for h in range(hosts) for i in names.host_instances(f"10.0.0.{h + 1}", per_host)]


def test_balance_counts_every_node_once_per_conductor_and_host():
    cluster = Cluster(_hosts(4, 2), _nodes(2000) + _nodes(10, seed=9, group="nowhere"))
    report = balance(cluster, RingSettings(), random_trials=3)
    assert report.orphaned == 10
    assert sum(report.per_conductor.values()) == 2000
    assert sum(report.per_machine.values()) == 2000 and len(report.per_machine) == 4
    (ring,) = report.rings
    assert ring.key == ":ipmi" and ring.nodes == 2000 and len(ring.members) == 8
    assert ring.max_over_mean == max(ring.counts.values()) / 250
    assert 1.0 < ring.random_max_over_mean < ring.max_over_mean + 1


def test_random_placement_is_near_one_for_many_nodes_per_conductor():
    assert random_max_over_mean(100_000, 4, trials=3) < 1.02
    assert random_max_over_mean(10, 1) == 1.0


def test_a_higher_exponent_balances_better_and_the_advice_names_its_cost():
    cluster = Cluster(_hosts(8, 2), _nodes(8000))
    pick, choices = recommend_exponent(cluster, RingSettings())
    by_exp = {c.exponent: c for c in choices}
    assert by_exp[5].moved_fraction == 0.0
    assert by_exp[10].max_over_mean < by_exp[5].max_over_mean
    assert pick > 5 and by_exp[pick].moved_fraction > 0.3  # changing the exponent moves most nodes


def test_adding_a_conductor_moves_nodes_only_to_it():
    cluster = Cluster(_hosts(4, 1), _nodes(4000))
    plan = make_plan(cluster, RingSettings(), [parse_change("add=new-ctl")], TIMING)
    assert plan.moved == sum(plan.moves.values()) > 0
    assert all(k.endswith("-> new-ctl") for k in plan.moves)  # consistent hashing: no survivor shuffle
    assert plan.after["conductors"] == sorted([c.name for c in cluster.conductors] + ["new-ctl"])


def test_graceful_remove_and_takeover_time():
    cluster = Cluster(_hosts(4, 1), _nodes(4000, states=("active",)))
    plan = make_plan(cluster, RingSettings(), [parse_change("remove=10.0.0.2")], TIMING)
    assert all(k.startswith("10.0.0.2 -> ") for k in plan.moves)
    assert plan.moved == plan.moved_active == sum(plan.takeover_backlog.values())
    worst = max(plan.takeover_backlog.values())
    assert plan.takeover_seconds == -(-worst // 8) * 180
    assert plan.routing_seconds == 15


def test_losing_a_host_moves_all_its_processes_and_waits_for_the_heartbeat():
    cluster = Cluster(_hosts(4, 3), _nodes(3000, states=("active", "deploying")))
    plan = make_plan(cluster, RingSettings(), [parse_change("lose-host=10.0.0.3")], TIMING)
    gone = {c.name for c in cluster.conductors if c.machine == "10.0.0.3"}
    assert len(gone) == 3
    assert {k.split(" -> ")[0] for k in plan.moves} == gone
    assert plan.routing_seconds == 60 + 15
    owners = predict(cluster, RingSettings())
    mid_op = {n.uuid for n in cluster.nodes if n.provision_state == "deploying" and owners[n.uuid] in gone}
    assert set(plan.moved_transitional) == mid_op and mid_op


def test_add_host_names_instances_as_ironic_registers_them():
    cluster = Cluster(_hosts(2, 1), _nodes(500))
    plan = make_plan(cluster, RingSettings(), [parse_change("add-host=10.0.0.9:3")], TIMING)
    assert {"10.0.0.9", "10.0.0.9:8090", "10.0.0.9:8091"} <= set(plan.after["conductors"])


def test_exponent_change_reshuffles():
    cluster = Cluster(_hosts(8, 1), _nodes(4000))
    plan = make_plan(cluster, RingSettings(), [parse_change("exponent=10")], TIMING)
    assert plan.moved / plan.nodes > 0.5
    assert plan.after["settings"]["exponent"] == 10


@pytest.mark.parametrize("text", ["add", "bogus=1", "remove=nobody", "rename=nobody,x", "add-host=h:0",
                                  "lose-host=nowhere", "exponent=99", "add=10.0.0.1"])
def test_bad_changes_are_refused(text):
    cluster = Cluster(_hosts(2, 1), _nodes(10))
    with pytest.raises(PlanError):
        make_plan(cluster, RingSettings(), [parse_change(text)], TIMING)


def test_validate_finds_the_settings_the_api_uses():
    cluster = Cluster(_hosts(3, 2), _nodes(600))
    api = predict(cluster, RingSettings(7, "sha256"))
    seen = Cluster(cluster.conductors, [Node(n.uuid, n.driver, conductor=api[n.uuid]) for n in cluster.nodes])
    assert validate(seen, RingSettings(7, "sha256")).exact
    result = validate(seen, RingSettings())
    assert not result.exact and result.agree < 600
    assert RingSettings(7, "sha256") in result.matching_settings
    # a conductor list the API never saw matches no settings at all
    wrong = Cluster(cluster.conductors[:-1], seen.nodes)
    assert validate(wrong, RingSettings(7, "sha256")).matching_settings == []


def test_takeover_runs_are_bounded_by_periodic_max_workers():
    assert TIMING.takeover_seconds(0) == 0
    assert TIMING.takeover_seconds(8) == 180
    assert TIMING.takeover_seconds(9) == 360
    assert Counter(n.provision_state for n in _nodes(100))  # sanity: the generator varies states
