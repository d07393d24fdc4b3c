"""Placement equals tooz on golden vectors and Ironic's own routing on Ironic's test database."""

import ironic.tests.unit  # noqa: F401 - first: selects oslo.service's threading backend

# isort: split

import json
import random
import uuid
from pathlib import Path

import pytest
from ironic.common import hash_ring
from ironic.conductor import rpcapi
from ironic.tests.unit.db import base as db_base
from ironic.tests.unit.db import utils as db_utils
from tooz import hashring

from ironic_scale.sharding import names, sources
from ironic_scale.sharding.model import Cluster, Conductor, Node, RingSettings
from ironic_scale.sharding.ring import Rings, hosts_by_key, predict

GOLDEN = json.loads((Path(__file__).with_name("golden_vectors.json")).read_text())
VECTORS = [pytest.param(v, id=f"{v['algorithm']}-e{v['exponent']}") for v in GOLDEN["vectors"]]


@pytest.mark.parametrize("vector", VECTORS)
def test_tooz_still_places_the_golden_vectors(vector):
    # If this fails, tooz changed placement: every cluster reshuffles on upgrade.
    ring = hashring.HashRing(set(GOLDEN["conductors"]), partitions=2 ** vector["exponent"],
                             hash_function=vector["algorithm"])
    assert {u: ring.get_nodes(u.encode()).pop() for u in GOLDEN["uuids"]} == vector["owners"]


@pytest.mark.parametrize("vector", VECTORS)
def test_prediction_equals_golden_vectors(vector):
    cluster = Cluster([Conductor(n, "", {"ipmi"}) for n in GOLDEN["conductors"]],
                      [Node(u, "ipmi") for u in GOLDEN["uuids"]])
    owners = predict(cluster, RingSettings(vector["exponent"], vector["algorithm"]))
    assert owners == vector["owners"]
    assert len(set(owners.values())) == len(GOLDEN["conductors"])  # the vectors exercise every member


def test_rings_are_keyed_by_group_and_hardware_type_and_skip_dead_conductors():
    cs = [Conductor("a", "Rack1", {"ipmi", "redfish"}), Conductor("b", "rack1", {"ipmi"}),
          Conductor("c", "", {"ipmi"}), Conductor("d", "", {"ipmi"}, alive=False)]
    assert hosts_by_key(cs) == {"rack1:ipmi": {"a", "b"}, "rack1:redfish": {"a"}, ":ipmi": {"c"}}
    assert hosts_by_key(cs, use_groups=False) == {"ipmi": {"a", "b", "c"}, "redfish": {"a"}}
    rings = Rings(cs, RingSettings())
    assert rings.owner(Node(str(uuid.uuid4()), "redfish", "RACK1")) == "a"
    assert rings.owner(Node(str(uuid.uuid4()), "redfish", "")) is None  # orphaned: no conductor for the key
    assert rings.owner(Node(str(uuid.uuid4()), "ipmi", "")) == "c"


class TestAgainstIronicRouting(db_base.DbTestCase):
    """Conductors registered in Ironic's database; Ironic's RPC API routes, we predict."""

    def _clear_attrs(self) -> None:  # keep pytest's bound test method (see tests/unit/drivers)
        pass

    def setUp(self) -> None:
        super().setUp()
        hash_ring.HashRingManager.reset()
        self.addCleanup(hash_ring.HashRingManager.reset)
        rng = random.Random(5)
        layout = [("ctl-1", "", ["ipmi", "native-ipmi"], True), ("ctl-1:8090", "", ["ipmi"], True),
                  ("10.1.0.2:8091", "", ["ipmi", "native-ipmi"], True), ("ctl-9", "", ["ipmi"], False),
                  ("[fd00::5]:8090", "rack2", ["ipmi"], True), ("r2b", "rack2", ["ipmi"], True)]
        for hostname, group, hw_types, online in layout:
            c = self.dbapi.register_conductor({"hostname": hostname, "drivers": [],
                                               "conductor_group": group})
            self.dbapi.register_conductor_hardware_interfaces(
                c.id, [{"hardware_type": hw, "interface_type": "power", "interface_name": "fake",
                        "default": True} for hw in hw_types])
            if not online:
                self.dbapi.unregister_conductor(hostname)
        self.nodes = []
        for i in range(300):
            driver = rng.choice(["ipmi", "ipmi", "native-ipmi"])
            group = rng.choice(["", "", "rack2"])
            self.nodes.append(db_utils.create_test_node(
                id=i + 1, uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)), driver=driver,
                conductor_group=group, name=f"n{i}"))

    def _ironic_owner(self, node):
        try:
            return rpcapi.ConductorAPI().get_conductor_for(node)
        except Exception as e:  # NoValidHost: no live conductor for the node's group and driver
            assert type(e).__name__ == "NoValidHost"
            return None

    def _check(self, exponent: int, algorithm: str) -> None:
        self.config(hash_partition_exponent=exponent, hash_ring_algorithm=algorithm)
        hash_ring.HashRingManager.reset()
        cluster = sources.cluster_from_dbapi(self.dbapi)
        assert {c.name for c in cluster.conductors if not c.alive} == {"ctl-9"}
        owners = predict(cluster, RingSettings(exponent, algorithm, names.uses_groups()))
        ironic = {n.uuid: self._ironic_owner(n) for n in self.nodes}
        assert owners == ironic
        assert None in owners.values()  # native-ipmi nodes in rack2 have no conductor
        assert len({o for o in owners.values() if o}) == 5

    def test_default_settings(self) -> None:
        self._check(5, "md5")

    def test_exponent_7_sha256(self) -> None:
        self._check(7, "sha256")
