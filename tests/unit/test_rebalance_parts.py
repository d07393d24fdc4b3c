"""The pure parts of ``ironic-scale rebalance``: bounds, the post-event ring, config reading."""

from __future__ import annotations

import uuid

import pytest

from ironic_scale.density import rebalance
from ironic_scale.sharding import ring
from ironic_scale.sharding.model import Cluster, Conductor, Node, RingSettings
from ironic_scale.stack.processes import _option


def test_timing_is_ironics_defaults_with_overrides():
    t = rebalance.timing({}, 60)
    assert (t.hash_ring_reset_interval, t.heartbeat_timeout, t.sync_power_state_interval) == (15, 60, 60)
    assert t.first_poll_after_stop() == 75 and t.first_poll_after_crash() == 135
    t = rebalance.timing({"DEFAULT": {"hash_ring_reset_interval": "5"},
                          "conductor": {"heartbeat_timeout": "10"}, "native_ipmi": {"x": "1"}}, 5)
    assert t.first_poll_after_stop() == 10 and t.first_poll_after_crash() == 20


def cluster(n: int = 300) -> Cluster:
    hw = frozenset({"native-ipmi"})
    cs = [Conductor(f"127.129.0.{i}", hardware_types=hw) for i in range(1, 4)]
    ns = [Node(str(uuid.UUID(int=i * 7919 + 1)), "native-ipmi") for i in range(n)]
    return Cluster(cs, ns)


@pytest.mark.parametrize("event", ["stop", "kill"])
def test_only_the_leavers_nodes_move(event):
    c, s = cluster(), RingSettings()
    before = ring.predict(c, s)
    after = ring.predict(rebalance.after_event(c, event, "127.129.0.2", None), s)
    moved = {u for u in before if before[u] != after[u]}
    assert moved and moved == {u for u, o in before.items() if o == "127.129.0.2"}
    assert "127.129.0.2" not in after.values()


def test_only_nodes_to_the_joiner_move():
    c, s = cluster(), RingSettings()
    before = ring.predict(c, s)
    after = ring.predict(rebalance.after_event(c, "add", None, "127.129.0.9"), s)
    moved = {u for u in before if before[u] != after[u]}
    assert moved and all(after[u] == "127.129.0.9" for u in moved)


def test_a_victim_that_is_not_live_is_refused():
    with pytest.raises(rebalance.RebalanceFailed, match="not a live conductor"):
        rebalance.after_event(cluster(), "stop", "127.0.0.1", None)


def test_option_reads_the_last_file_that_sets_it(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text("[DEFAULT]\nhost = x\n[conductor]\nsync_power_state_interval = 5\n")
    b.write_text("[conductor]\nsync_power_state_interval = 7\n")
    assert _option([str(a), str(b)], "conductor", "sync_power_state_interval") == "7"
    assert _option([str(a)], "DEFAULT", "pin_release_version") is None


def test_plan_defaults_idle_timeout_and_keepalive():
    p = rebalance.Plan(event="kill", work=None, sync_interval=60, session_timeout=20)
    opts = p.ironic_options()
    assert opts["native_ipmi"] == {"idle_timeout": "150.0", "keepalive_interval": "10.0"}
    with pytest.raises(ValueError, match="event must be one of"):
        rebalance.Options(event="restart", sync_interval=5, session_timeout=5, idle_timeout=5)
