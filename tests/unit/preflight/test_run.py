"""Saving a baseline: only from a run whose measured parts did not fail."""

from __future__ import annotations

from ironic_scale.cli import build_parser
from ironic_scale.preflight import baseline
from ironic_scale.preflight.model import FAILED, OK, SKIPPED, Check
from ironic_scale.preflight.run import Preflight


def _preflight(tmp_path):
    args = build_parser().parse_args(["preflight", "--save-baseline", str(tmp_path / "b.json"),
                                      "--skip-density", "--sizes", "5", "--work", str(tmp_path / "w")])
    return Preflight(args)


def test_a_failed_measurement_is_never_saved_as_a_baseline(tmp_path, bench_doc):
    pre = _preflight(tmp_path)
    pre.docs["bench"] = bench_doc
    saved = pre.save([Check("bench", FAILED, "1 incorrect: ..."),
                      Check("density", SKIPPED, "--skip-density")])
    assert saved == {"path": None, "error": "bench failed"}
    assert not (tmp_path / "b.json").exists()


def test_a_good_run_is_saved_with_the_reason_for_what_it_skipped(tmp_path, bench_doc):
    pre = _preflight(tmp_path)
    pre.docs["bench"], pre.environment = bench_doc, {"ironic": "39.0.0"}
    saved = pre.save([Check("patches", FAILED, "does not fit"), Check("bench", OK, "measured"),
                      Check("density", SKIPPED, "--skip-density")])
    assert saved == {"path": str(tmp_path / "b.json"), "error": None}
    b = baseline.load(str(tmp_path / "b.json"))
    assert b.part("bench") == bench_doc and b.missing["density"].endswith("(--skip-density)")
    assert b.environment == {"ironic": "39.0.0"}
