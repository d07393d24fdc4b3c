"""Reading sensors from broken or hostile SDR repositories (issue 9, items 2, 7, 13).

Every bound is checked by counting the requests the simulated BMC received,
never by timing. The timeouts only turn a regression into a failure instead
of a hung run: before the fix, the loops below never ended.
"""

from __future__ import annotations

import pytest
from pyghmi.ipmi import sdr as pyghmi_sdr

from ironic_scale.ipmi import commands, errors
from ironic_scale.ipmi.credentials import BmcCredentials
from ironic_scale.sim import sdr as sim_sdr

HEALTHY_RECORDS = len(sim_sdr.RECORDS)
pytestmark = pytest.mark.timeout(120)


def creds_of(ep) -> BmcCredentials:
    return BmcCredentials(ep.address, ep.port, ep.username, ep.password)


class Requests:
    """Requests the simulator received since this object was made, by counter name."""

    def __init__(self, fleet):
        self.control = fleet.control
        self.before = fleet.control.counters()

    def __getitem__(self, name: str) -> int:
        return self.control.counters().get("req." + name, 0) - self.before.get("req." + name, 0)


def readings(engine, ep, timeout: float = 5.0) -> dict[str, float | None]:
    return {s["name"]: s["value"] for s in commands.get_sensors(engine, creds_of(ep), timeout)}


# -- Item 2: no SDR shared between BMCs; caches bounded -----------------------


def test_a_poisoned_sdr_never_reaches_a_healthy_bmc_of_the_same_model(fleet_factory, engine_factory):
    f = fleet_factory(2)
    bad, good = f.endpoints
    f.control.set([bad.key], sdr_fault="poison")  # same device id, model and SDR timestamps
    engine = engine_factory()
    assert readings(engine, bad)[sim_sdr.POISON_NAME] == 240.0  # host off: raw 24 x 10
    healthy = readings(engine, good)
    assert sim_sdr.POISON_NAME not in healthy
    assert healthy["CPU Temp"] == 24.0


def test_a_changing_sdr_timestamp_grows_no_cache(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep = f.endpoints[0]
    f.control.set([ep.key], sdr_fault="timestamp")
    engine = engine_factory()
    shared_before = len(pyghmi_sdr.shared_sdrs)
    requests = Requests(f)
    for _ in range(20):
        assert readings(engine, ep)["CPU Temp"] == 24.0
    assert len(pyghmi_sdr.shared_sdrs) == shared_before, "pyghmi's process-wide cache grew"
    assert requests["get_sdr"] == 20 * HEALTHY_RECORDS, "a changed timestamp must mean a re-read"
    from ironic_scale.ipmi import sensors

    assert len(sensors.cache_of(engine)) == 1


def test_the_cache_holds_one_entry_per_bmc_up_to_the_session_bound(fleet_factory, engine_factory):
    f = fleet_factory(3)
    engine = engine_factory(max_sessions=2)
    first, second, third = f.endpoints
    for ep in (first, second, third):
        readings(engine, ep)
    from ironic_scale.ipmi import sensors

    assert len(sensors.cache_of(engine)) == 2
    requests = Requests(f)
    readings(engine, third)  # cached, timestamps unchanged: no Get SDR
    assert requests["get_sdr"] == 0 and requests["get_sdr_repository_info"] == 1
    readings(engine, first)  # least recently used, evicted: read again
    assert requests["get_sdr"] == HEALTHY_RECORDS


def test_cache_entries_expire_and_are_keyed_by_bmc():
    from ironic_scale.ipmi import sensors

    cache = sensors.SdrCache(size=2, ttl=10.0)
    cache.put(("a",), b"t1", (b"r",), now=100.0)
    assert cache.get(("a",), b"t1", now=105.0) == (b"r",)
    assert cache.get(("b",), b"t1", now=105.0) is None  # same timestamps, another BMC
    assert cache.get(("a",), b"t2", now=105.0) is None  # the BMC's SDR changed
    cache.put(("a",), b"t1", (b"r",), now=100.0)
    assert cache.get(("a",), b"t1", now=110.0) is None and len(cache) == 0  # expired, dropped


# -- Item 7: every read ends, within its bounds --------------------------------


def sensor_read_error(f, engine_factory, fault: str, **kw) -> tuple[str, Requests]:
    ep = f.endpoints[0]
    f.control.set([ep.key], sdr_fault=fault)
    engine = engine_factory()
    requests = Requests(f)
    with pytest.raises(errors.IPMIError) as exc:
        commands.get_sensors(engine, creds_of(ep), 5.0, **kw)
    assert "\n" not in str(exc.value)
    return str(exc.value), requests


@pytest.mark.timeout(60)
def test_looping_record_ids_end_the_read(fleet_factory, engine_factory):
    message, requests = sensor_read_error(fleet_factory(1), engine_factory, "loop")
    assert "loop" in message and "0x0001" in message
    assert requests["get_sdr"] == 2  # record 1, record 2 -> 1: stop before asking again


@pytest.mark.timeout(60)
def test_a_record_list_that_never_ends_stops_at_the_cap(fleet_factory, engine_factory):
    message, requests = sensor_read_error(fleet_factory(1), engine_factory, "endless")
    from ironic_scale.ipmi import sensors

    assert f"more than {sensors.MAX_RECORDS} records" in message
    assert requests["get_sdr"] == sensors.MAX_RECORDS


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault, code", [("cc_ca", "0xCA"), ("cc_c5", "0xC5")])
def test_a_completion_code_answered_forever_ends_the_read(fleet_factory, engine_factory, fault, code):
    message, requests = sensor_read_error(fleet_factory(1), engine_factory, fault)
    from ironic_scale.ipmi import sensors

    assert f"completion code {code} after {sensors.RETRY_LIMIT} retries" in message
    assert requests["get_sdr"] == sensors.RETRY_LIMIT + 1
    assert requests["reserve_sdr_repository"] <= sensors.RETRY_LIMIT + 1


@pytest.mark.timeout(60)
def test_the_whole_read_has_a_deadline(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep, engine = f.endpoints[0], engine_factory()
    commands.get_power(engine, creds_of(ep), 5.0)  # logged in before the BMC slows down
    f.control.set([ep.key], latency="100ms")
    requests = Requests(f)
    with pytest.raises(errors.IPMIError, match=r"not read within 0\.35 s$"):
        commands.get_sensors(engine, creds_of(ep), 5.0, deadline=0.35)
    # A whole read is 11 requests: Get Device ID, Repository Info, 5 Get SDR, 4 readings.
    sent = sum(requests[n] for n in ("get_device_id", "get_sdr_repository_info", "get_sdr",
                                     "get_sensor_reading"))
    assert 1 <= sent <= 5


# -- Item 13 and the decoder's own traps ---------------------------------------


@pytest.mark.timeout(60)
def test_a_malformed_record_is_a_clear_ipmi_error(fleet_factory, engine_factory):
    message, requests = sensor_read_error(fleet_factory(1), engine_factory, "malformed")
    assert "malformed SDR record 0x0001 (IndexError" in message
    assert requests["get_sdr"] == HEALTHY_RECORDS


@pytest.mark.timeout(60)
def test_a_six_bit_packed_sensor_name_is_decoded(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep = f.endpoints[0]
    f.control.set([ep.key], sdr_fault="sixbit")
    assert readings(engine_factory(), ep)["CPU TEMP"] == 24.0  # 6-bit ASCII has no lower case


def test_the_healthy_sdr_reads_as_before(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep = f.endpoints[0]
    f.control.power([ep.key], "on")
    got = readings(engine_factory(), ep)
    assert got == {"CPU Temp": 45.0, "System Fan 1": 5400.0, "12V": 12.0, "PSU1 Status": None}


def test_a_bmc_that_returns_records_in_parts_is_read_in_parts(fleet_factory, engine_factory):
    f = fleet_factory(1)
    ep = f.endpoints[0]
    f.control.set([ep.key], sdr_fault="chunked")
    requests = Requests(f)
    assert readings(engine_factory(), ep)["CPU Temp"] == 24.0
    # One refused whole record, one 16-byte chunk refused, then 8-byte parts:
    # one reservation serves them all; the retry budget is barely touched.
    parts = sum(-(-(len(r) - 5) // 8) + 1 for r in sim_sdr.RECORDS)  # header + body parts
    assert requests["get_sdr"] == 2 + parts
    assert requests["reserve_sdr_repository"] == 1


def test_an_unknown_fault_is_refused(fleet_factory):
    f = fleet_factory(1)
    from ironic_scale.sim.control import ControlError

    with pytest.raises(ControlError, match="invalid sdr_fault 'nope'"):
        f.control.set([f.endpoints[0].key], sdr_fault="nope")
