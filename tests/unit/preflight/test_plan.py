"""What a preflight will run, decided before anything runs: baseline settings, skips with reasons,
and the bad input that is refused (exit 2) instead of measured."""

from __future__ import annotations

import copy
import json

import pytest

from ironic_scale.cli import build_parser
from ironic_scale.preflight import baseline, cli, plan
from tests.unit.preflight.conftest import FIXTURE


def _args(*argv: str):
    return build_parser().parse_args(["preflight", *argv])


def _value(argv, flag):
    return argv[argv.index(flag) + 1]


@pytest.fixture
def saved_baseline():
    return baseline.load(str(FIXTURE))


def test_with_a_baseline_the_run_repeats_the_baselines_own_settings(saved_baseline, tmp_path):
    bench = plan.bench_part(_args("--baseline", "x"), saved_baseline)
    assert bench.compare and bench.skipped is None
    assert (_value(bench.argv, "--sizes"), _value(bench.argv, "--repeats"),
            _value(bench.argv, "--methods")) == ("50", "2", "native,native-interface")
    assert _value(bench.argv, "--faults") == "none"
    density = plan.density_part(_args("--baseline", "x"), saved_baseline, tmp_path)
    assert (_value(density.argv, "--sizes"), _value(density.argv, "--cycles"), _value(density.argv, "--db"),
            _value(density.argv, "--drivers")) == ("20", "2", "sqlite", "native-ipmi")
    assert _value(density.argv, "--work") == str(tmp_path / "density")


def test_options_given_win_over_the_baseline(saved_baseline, tmp_path):
    args = _args("--baseline", "x", "--sizes", "200", "--repeats", "3", "--methods", "native",
                 "--density-size", "40", "--db", "postgresql")
    bench = plan.bench_part(args, saved_baseline)
    assert (_value(bench.argv, "--sizes"), _value(bench.argv, "--repeats"),
            _value(bench.argv, "--methods")) == ("200", "3", "native")
    density = plan.density_part(args, saved_baseline, tmp_path)
    assert (_value(density.argv, "--sizes"), _value(density.argv, "--db")) == ("40", "postgresql")


def test_without_a_baseline_small_defaults(tmp_path):
    args = _args("--save-baseline", str(tmp_path / "b.json"))
    bench = plan.bench_part(args, None)
    assert (_value(bench.argv, "--sizes"), _value(bench.argv, "--repeats")) == ("1000", "5")
    assert not bench.compare
    density = plan.density_part(args, None, tmp_path)
    assert (_value(density.argv, "--sizes"), _value(density.argv, "--cycles")) == ("100", "5")


def test_the_configs_ring_settings_go_to_the_density_run_after_the_baselines(tmp_path):
    argv = ["--sizes", "20", "--set", "DEFAULT.hash_partition_exponent=5"]
    assert plan.with_ring(argv, {"hash_partition_exponent": "7"})[-2:] == [
        "--set", "DEFAULT.hash_partition_exponent=7"]
    assert plan.with_ring(argv, {}) == argv


def test_skipped_parts_carry_their_reasons(saved_baseline, tmp_path, bench_doc):
    assert plan.bench_part(_args("--baseline", "x", "--skip-bench"), saved_baseline).skipped == "--skip-bench"
    assert plan.density_part(_args("--baseline", "x", "--skip-density"), saved_baseline,
                             tmp_path).skipped == "--skip-density"
    bench_only = tmp_path / "bench.json"
    bench_only.write_text(json.dumps(bench_doc))
    b = baseline.load(str(bench_only))
    density = plan.density_part(_args("--baseline", "x"), b, tmp_path)
    assert density.argv is None
    assert "'ironic-scale bench' result: it has no density figures" in density.skipped
    # Saving a new baseline as well: density is measured for it, and says why it is not compared.
    density = plan.density_part(_args("--baseline", "x", "--save-baseline", "n.json"), b, tmp_path)
    assert density.argv and not density.compare and "no density figures" in density.not_compared


def test_real_bmcs_never_get_the_density_test_and_never_meet_a_simulator_baseline(saved_baseline, tmp_path):
    inventory = tmp_path / "inv.jsonl"
    inventory.write_text('{"address": "127.0.0.1", "port": 623, "username": "u", "password": "p"}\n')
    args = _args("--save-baseline", str(tmp_path / "b.json"), "--inventory", str(inventory))
    density = plan.density_part(args, None, tmp_path)
    assert density.argv is None and density.skipped == plan.NO_DENSITY_ON_REAL_BMCS
    bench = plan.bench_part(args, None)
    assert _value(bench.argv, "--methods") == "native" and "--sizes" not in bench.argv
    with pytest.raises(ValueError, match="baseline's bench ran on the simulator"):
        plan.bench_part(_args("--baseline", "x", "--inventory", str(inventory)), saved_baseline)


def test_a_baseline_setting_this_bench_refuses_is_bad_input(saved):
    doc = copy.deepcopy(saved)
    doc["bench"]["settings"]["faults"] = ["earthquake"]
    b = baseline.Baseline("x", "preflight", None, {}, {"bench": doc["bench"], "density": None})
    with pytest.raises(ValueError, match="earthquake"):
        plan.bench_part(_args("--baseline", "x"), b)


@pytest.mark.parametrize(("argv", "message"), [
    ((), "give --baseline FILE, or --save-baseline FILE"),
    (("--save-baseline", "b.json", "--skip-bench", "--skip-density"), "this run measures neither"),
    (("--save-baseline", "/nonexistent/dir/b.json"), "no directory /nonexistent/dir"),
    (("--skip-bench", "--skip-density", "--config-file", "/nonexistent.conf"), "no such config file"),
])
def test_bad_options_are_refused_before_anything_runs(argv, message):
    with pytest.raises(ValueError, match=message):
        cli.validate(_args(*argv))


def test_static_checks_alone_need_no_baseline():
    cli.validate(_args("--skip-bench", "--skip-density"))
