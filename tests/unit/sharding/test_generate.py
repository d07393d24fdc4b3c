"""``conductors generate``'s plan, read back the way Ironic reads it: base config + drop-in in Ironic's
own option set, then names, console ranges, cache dirs, pool budget and stop timeout are checked."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from ironic_scale.sharding import baseconf, budget, generate, hostspec, ports, units
from ironic_scale.sharding.names import registered_name

BASE = """\
[DEFAULT]
rpc_transport = {transport}
hash_partition_exponent = 7
hash_ring_reset_interval = {reset}
[conductor]
graceful_shutdown_timeout = {graceful}
[database]
connection = postgresql+psycopg2://ironic:secret@db.example.net/ironic
"""


def base_config(tmp_path: Path, transport: str = "json-rpc", reset: int = 15, graceful: int = 60,
                extra: str = "") -> str:
    path = tmp_path / "etc" / "ironic.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BASE.format(transport=transport, reset=reset, graceful=graceful) + extra)
    return str(path)


HOSTS = (("ctl1.example.net", 4), ("ctl2.example.net", 2))


def request(tmp_path: Path, hosts=HOSTS, **kw) -> generate.Request:
    if "base_config" not in kw:
        kw["base_config"] = base_config(tmp_path, kw.get("rpc_transport", "json-rpc"))
    kw.setdefault("db_max_connections", 500)
    kw.setdefault("api_workers", 4)
    return generate.Request(hosts=[hostspec.HostSpec(m, n) for m, n in hosts], **kw)


def load_instances(tmp_path: Path, gen: generate.Generated):
    """(machine, plan entry, conf) for every instance: base + its generated drop-in, as Ironic reads them."""
    out = []
    for host in gen.plan["hosts"]:
        for entry in host["instances"]:
            dropin = tmp_path / "installed" / host["machine"] / f"{entry['index']}.conf"
            dropin.parent.mkdir(parents=True, exist_ok=True)
            dropin.write_text(gen.files[host["machine"] + entry["dropin"]])
            out.append((host["machine"], entry, baseconf.load([gen.plan["base_config"], dropin])))
    return out


def timeout_stop_sec(unit_text: str) -> str:
    return re.search(r"^TimeoutStopSec=(\S+)$", unit_text, re.M).group(1)


@pytest.mark.parametrize("transport", ["json-rpc", "oslo"])
def test_generated_configs_load_in_ironics_options_and_keep_instances_apart(tmp_path, transport):
    req = request(tmp_path, rpc_transport=transport, first_port=8089)
    gen = generate.build(req)
    loaded = load_instances(tmp_path, gen)
    assert len(loaded) == 6

    # Names: what each conductor registers, from its loaded config, is the plan's, and all differ.
    registered = [registered_name(c.host, c.rpc_transport, c.json_rpc.port, c.pin_release_version)
                  for _, _, c in loaded]
    assert registered == [e["name"] for _, e, _ in loaded]
    assert len(set(registered)) == 6
    if transport == "json-rpc":
        # Instance 1 on 8089 keeps the plain name a single conductor had.
        assert registered[:2] == ["ctl1.example.net", "ctl1.example.net:8090"]
        assert {c.json_rpc.host_ip for m, _, c in loaded if m == "ctl1.example.net"} == {"ctl1.example.net"}
    else:
        assert registered[:2] == ["ctl1.example.net", "ctl1.example.net-2"]

    for machine, group in itertools.groupby(loaded, key=lambda x: x[0]):
        confs = [c for _, _, c in group]
        # Console ranges (Ironic's own parsed ranges) are pairwise disjoint and inside the given range.
        port_sets = [set(itertools.chain.from_iterable(c.console.port_range)) for c in confs]
        for a, b in itertools.combinations(port_sets, 2):
            assert not a & b, machine
        assert set().union(*port_sets) == set(range(10000, 20000))
        # Every image cache directory is used by exactly one instance.
        dirs = [d for c in confs for d in (c.pxe.tftp_master_path, c.pxe.instance_master_path,
                                           c.deploy.iso_master_path)]
        assert len(dirs) == len(set(dirs)) == 3 * len(confs)

    # The pool budget: every process filling pool + overflow still leaves the reserve free.
    sizes = {(c.database.max_pool_size, c.database.max_overflow) for _, _, c in loaded}
    assert len(sizes) == 1
    pool, overflow = sizes.pop()
    assert (6 + req.api_workers) * (pool + overflow) + req.db_reserve <= req.db_max_connections
    assert gen.plan["database"]["worst_case"] == (6 + 4) * (pool + overflow)

    # The unit's stop timeout covers the graceful stop of the loaded config.
    for machine, _, c in loaded:
        unit = gen.files[f"{machine}/etc/systemd/system/ironic-conductor@.service"]
        graceful_stop = c.hash_ring_reset_interval + c.conductor.graceful_shutdown_timeout
        assert int(timeout_stop_sec(unit)) >= graceful_stop
        # Ring settings are not in the drop-ins: the loaded value is the base config's.
        assert c.hash_partition_exponent == 7


def test_stop_timeout_follows_the_base_config(tmp_path):
    gen = generate.build(request(tmp_path, base_config=base_config(tmp_path, reset=30, graceful=300)))
    unit = gen.files["ctl1.example.net/etc/systemd/system/ironic-conductor@.service"]
    assert timeout_stop_sec(unit) == str(30 + 300 + units.STOP_MARGIN)
    assert gen.plan["stop"]["timeout_stop_sec"] == 345
    endless = generate.build(request(tmp_path, base_config=base_config(tmp_path, graceful=0)))
    assert timeout_stop_sec(endless.files["ctl2.example.net/etc/systemd/system/ironic-conductor@.service"]) \
        == "infinity"


def test_deprecated_default_section_graceful_timeout_is_read_as_ironic_reads_it(tmp_path):
    path = tmp_path / "old.conf"
    path.write_text("[DEFAULT]\nrpc_transport = json-rpc\ngraceful_shutdown_timeout = 200\n")
    gen = generate.build(request(tmp_path, base_config=str(path)))
    assert gen.plan["stop"]["timeout_stop_sec"] == 15 + 200 + units.STOP_MARGIN


def test_unit_runs_base_then_dropin_of_instance(tmp_path):
    req = request(tmp_path, conductor_bin="/opt/ironic/bin/ironic-conductor", user="baremetal")
    gen = generate.build(req)
    unit = gen.files["ctl1.example.net/etc/systemd/system/ironic-conductor@.service"]
    conductor_d = str(Path(req.base_config).parent / "conductor.d")
    assert (f"ExecStart=/opt/ironic/bin/ironic-conductor --config-file {req.base_config} "
            f"--config-file {conductor_d}/%i.conf") in unit
    assert "\nUser=baremetal\n" in unit and "\nRestart=on-failure\n" in unit
    assert "\nPartOf=ironic-conductors.target\n" in unit and "\nWantedBy=ironic-conductors.target\n" in unit
    assert "\nStateDirectory=ironic/conductor-%i\n" in unit
    assert not re.search(r"^KillMode=", unit, re.M)
    target = gen.files["ctl2.example.net/etc/systemd/system/ironic-conductors.target"]
    assert "\nWants=ironic-conductor@1.service ironic-conductor@2.service\n" in target
    assert sorted(p for p in gen.files if p.startswith("ctl2")) == [
        "ctl2.example.net/etc/systemd/system/ironic-conductor@.service",
        "ctl2.example.net/etc/systemd/system/ironic-conductors.target",
        f"ctl2.example.net{conductor_d}/1.conf", f"ctl2.example.net{conductor_d}/2.conf"]


def test_state_dir_outside_var_lib_gets_no_state_directory(tmp_path):
    gen = generate.build(request(tmp_path, state_dir="/srv/ironic"))
    unit = gen.files["ctl1.example.net/etc/systemd/system/ironic-conductor@.service"]
    assert "\nStateDirectory=" not in unit
    assert gen.plan["hosts"][0]["instances"][2]["caches"]["pxe"]["instance_master_path"] == \
        "/srv/ironic/conductor-3/master_images"


def test_tftp_cache_stays_beside_the_base_one_and_disabled_caches_stay_disabled(tmp_path):
    extra = "[pxe]\ntftp_master_path = /data/tftp/master_images\ninstance_master_path =\n"
    gen = generate.build(request(tmp_path, base_config=base_config(tmp_path, extra=extra)))
    caches = gen.plan["hosts"][0]["instances"][1]["caches"]
    assert caches == {"pxe": {"tftp_master_path": "/data/tftp/conductor-2/master_images"},
                      "deploy": {"iso_master_path": "/var/lib/ironic/conductor-2/master_iso_images"}}


def test_low_exponent_with_many_conductors_is_a_warning_not_an_error(tmp_path):
    path = tmp_path / "e5.conf"
    path.write_text("[DEFAULT]\nrpc_transport = json-rpc\n")
    gen = generate.build(request(tmp_path, base_config=str(path)))
    assert any("hash_partition_exponent = 5" in w for w in gen.warnings)
    assert gen.plan["ring"]["hash_partition_exponent"] == 5


def test_api_on_another_json_rpc_port_is_warned_about(tmp_path):
    api_port = base_config(tmp_path, extra="[json_rpc]\nport = 6189\n")
    gen = generate.build(request(tmp_path, base_config=api_port))
    assert any("register without ':port'" in w for w in gen.warnings)
    # Instance 2 of ctl1 lands on 8089 here.
    gen = generate.build(request(tmp_path, base_config=api_port, first_port=8088))
    assert any("register without ':port'" in w for w in gen.warnings)
    assert gen.plan["hosts"][0]["instances"][1]["name"] == "ctl1.example.net"
    gen = generate.build(request(tmp_path, base_config=api_port, first_port=6189))
    assert not any("register without ':port'" in w for w in gen.warnings)


@pytest.mark.parametrize("change, message", [
    ({"exponent": 10}, "hash_partition_exponent = 7 but --exponent is 10"),
    ({"algorithm": "sha256"}, "hash_ring_algorithm = md5 but --algorithm is sha256"),
    ({"rpc_transport": "oslo", "base_config": "json"},
     "rpc_transport = json-rpc but --rpc-transport is oslo"),
    ({"first_port": 65534}, "do not fit"),
    ({"first_port": 10002}, "overlap --console-port-range"),
    ({"console_range": ports.PortRange(10000, 10003)}, "disjoint ranges are impossible"),
    ({"db_max_connections": 100, "api_workers": 30}, "database pool budget impossible"),
    ({"hosts": (("127.0.0.1", 2), ("ctl2.example.net", 2))}, "loopback"),
    ({"hosts": (("a", 2), ("a-2", 1)), "rpc_transport": "oslo"}, "every registered name must be unique"),
    ({"conductor_bin": "bin/ironic-conductor"}, "must be an absolute path"),
    ({"state_dir": "/var/lib/my ironic"}, "whitespace"),
    ({"user": "Not A User"}, "not a valid system user name"),
])
def test_bad_requests_are_refused_with_one_line(tmp_path, change, message):
    if change.get("base_config") == "json":
        change["base_config"] = base_config(tmp_path, "json-rpc")
    hosts = change.pop("hosts", HOSTS)
    with pytest.raises(ValueError, match=re.escape(message)) as e:
        generate.build(request(tmp_path, hosts=hosts, **change))
    assert "\n" not in str(e.value)


def test_exponent_and_algorithm_that_match_are_accepted(tmp_path):
    gen = generate.build(request(tmp_path, exponent=7, algorithm="md5"))
    assert gen.plan["ring"] == {"hash_partition_exponent": 7, "hash_ring_algorithm": "md5",
                                "pin_release_version": None,
                                "source": "base config; the drop-ins do not set them"}


@pytest.mark.parametrize("extra, message", [
    ("[DEFAULT]\nhash_ring_algorithm = shake_128\n", "breaks every ring build"),
    ("[database]\nconnection = sqlite:////var/lib/ironic/ironic.sqlite\n", "SQLite"),
    ("[conductor]\ngraceful_shutdown_timeout = soon\n", "graceful_shutdown_timeout"),
])
def test_bad_base_configs_are_refused(tmp_path, extra, message):
    path = tmp_path / "bad.conf"
    path.write_text(BASE.format(transport="json-rpc", reset=15, graceful=60).replace("[conductor]\n", "[x]\n")
                    + extra)
    with pytest.raises(ValueError, match=message):
        generate.build(request(tmp_path, base_config=str(path)))


def test_missing_base_config_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="config file .* not found"):
        generate.build(request(tmp_path, base_config=str(tmp_path / "nope.conf")))


# -- the parts ---------------------------------------------------------------------------------

def test_port_range_split_is_disjoint_adjacent_and_uses_every_port():
    slices = ports.split(ports.PortRange(10000, 10010), 3)
    assert [str(s) for s in slices] == ["10000:10004", "10004:10007", "10007:10010"]
    assert ports.split(ports.PortRange(5, 6), 1) == [ports.PortRange(5, 6)]
    with pytest.raises(ValueError, match="holds 2 ports"):
        ports.split(ports.PortRange(1, 3), 3)


@pytest.mark.parametrize("text", ["10000", "a:b", "20000:10000", "0:5", "5:70000", "1:2:3", "10:10"])
def test_bad_port_ranges(text):
    with pytest.raises(ValueError, match="console port range"):
        ports.PortRange.parse(text)


def test_budget_shares_the_limit_and_keeps_small_base_pools():
    b = budget.split(500, conductor_processes=32, api_workers=4)
    assert (b.per_process, b.max_pool_size, b.max_overflow) == (13, 4, 9)
    assert b.worst_case + b.reserve <= 500
    assert budget.split(500, 32, 4, base_pool_size=1).max_pool_size == 1
    assert budget.split(500, 32, 4, base_pool_size=0).max_pool_size == 4  # 0: oslo.db's "no limit"
    small = budget.split(100, 2, 1, base_pool_size=5)
    # The persistent part is capped by the base config's max_pool_size (5).
    assert (small.per_process, small.max_pool_size, small.max_overflow) == (30, 5, 25)
    with pytest.raises(ValueError, match=r"36 processes \(32 conductors \+ 4 API workers\)"):
        budget.split(100, 32, 4)
    with pytest.raises(ValueError, match="impossible"):
        budget.split(10, 1, 0, reserve=10)


@pytest.mark.parametrize("text, message", [
    ("bad_name", "LIKE wildcards"), ("50%", "LIKE wildcards"), ("-x.example", "neither"),
    ("a..b", "neither"), ("a=0", "at least 1"), ("a=x", "at least 1"), ("a", "has no count"),
])
def test_bad_host_entries(text, message):
    with pytest.raises(ValueError, match=message):
        hostspec.parse_hosts([text], None)


def test_host_entries():
    specs = hostspec.parse_hosts(["ctl1.example.net=3", "10.0.0.5", "fd00::5=2"], 2)
    assert [(s.machine, s.count) for s in specs] == [("ctl1.example.net", 3), ("10.0.0.5", 2), ("fd00::5", 2)]
    with pytest.raises(ValueError, match="listed twice"):
        hostspec.parse_hosts(["CTL1.example.net", "ctl1.example.net"], 1)
    with pytest.raises(ValueError, match="no hosts"):
        hostspec.parse_hosts([], 1)


def test_ipv6_machine_gets_bracketed_names(tmp_path):
    gen = generate.build(request(tmp_path, hosts=(("fd00::5", 2),), first_port=8089))
    assert [i["name"] for i in gen.plan["hosts"][0]["instances"]] == ["fd00::5", "[fd00::5]:8090"]


def test_write_replaces_an_earlier_plan_and_never_a_foreign_directory(tmp_path):
    out = tmp_path / "out"
    generate.write(out, generate.build(request(tmp_path)))
    assert (out / "ctl1.example.net" / "etc/systemd/system/ironic-conductors.target").is_file()
    generate.write(out, generate.build(request(tmp_path, hosts=(("ctl3.example.net", 1),))))
    assert sorted(p.name for p in out.iterdir()) == ["ctl3.example.net", "plan.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp dirs left
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no plan.json"):
        generate.write(foreign, generate.build(request(tmp_path)))
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
