"""One preflight: plan, run each part in turn (cheap ones first), save a baseline, report.

A part that breaks (a stack that does not start, a simulator that fails) becomes a failed
check with its one-line reason and the next part still runs: the operator gets one report
with everything that could be learnt, not a traceback halfway. Ctrl-C stops the run (the
bench's simulators and the density's stacks are stopped on the way out).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ironic_scale.bench import results
from ironic_scale.bench.progress import Progress
from ironic_scale.preflight import baseline as baselines
from ironic_scale.preflight import compare, environment, measure, plan, report, static
from ironic_scale.preflight.model import FAILED, NOT_AVAILABLE, SKIPPED, Check

STEPS = 4


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _error_text(e: Exception) -> str:
    text = " ".join(str(e).split()) or "no message"
    return text if isinstance(e, ValueError | OSError) else f"{type(e).__name__}: {text}"


def _timed(index: int, name: str, what: str, progress: Progress, step: Callable[[], Check]) -> Check:
    progress.begin(f"preflight [{index}/{STEPS}] {name}: {what}")
    t0 = time.monotonic()
    try:
        check = step()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one part breaking must not cost the report
        check = Check(name, FAILED, _error_text(e))
    check.seconds = time.monotonic() - t0
    progress.note(f"  {name}: {check.status}: {check.summary}")
    return check


def _not_run(part: plan.Part) -> Check:
    if part.not_available:
        return Check(part.name, NOT_AVAILABLE, part.not_available)
    return Check(part.name, SKIPPED, part.skipped or "not planned")


class Preflight:
    """The state one run carries from part to part: the baseline, the plan, measured documents."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.baseline = baselines.load(args.baseline) if args.baseline else None
        self.work = Path(args.work or tempfile.mkdtemp(prefix="ironic-scale-preflight-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.parts = {"bench": plan.bench_part(args, self.baseline),
                      "density": plan.density_part(args, self.baseline, self.work)}
        density = args.threshold if args.density_threshold is None else args.density_threshold
        self.thresholds = {"bench": args.threshold, "density": density}
        self.docs: dict[str, dict[str, Any]] = {}
        self.environment: dict[str, Any] = {}
        self.progress = Progress()

    def _measured(self, name: str, argv: list[str], run: Callable[[list[str], Progress], dict[str, Any]],
                  judge: Callable[[dict[str, Any], dict[str, Any] | None, float], Check]) -> Check:
        part = self.parts[name]
        doc = run(argv, self.progress)
        path = self.work / f"{name}.json"
        results.write(doc, str(path))
        self.docs[name] = doc
        base = self.baseline.part(name) if self.baseline is not None and part.compare else None
        check = judge(doc, base, self.thresholds[name])
        if part.not_compared:
            check.details.append(f"not compared: {part.not_compared}")
        check.details.append(f"raw results: {path}")
        return check

    def _part(self, name: str, argv: list[str] | None,
              run: Callable[[list[str], Progress], dict[str, Any]],
              judge: Callable[[dict[str, Any], dict[str, Any] | None, float], Check]) -> Callable[[], Check]:
        part = self.parts[name]
        if argv is None:
            return lambda: _not_run(part)
        return lambda: self._measured(name, argv, run, judge)

    def checks(self) -> list[Check]:
        base_env = self.baseline.environment if self.baseline else {}
        p = self.progress
        patches = _timed(1, "patches", "does the patch series fit this Ironic", p,
                         lambda: static.patches_check(base_env.get("patch series")))
        a = self.args
        config = _timed(2, "config", "ironic-scale check on the given configs", p,
                        lambda: static.config_check(a.config_file, a.api, a.conductor))
        self.environment = environment.current(patches.facts.get("state", "unknown"),
                                               config.facts.get("ring_text"))
        bench_argv = self.parts["bench"].argv
        bench = _timed(3, "bench", "power-poll cost", p,
                       self._part("bench", bench_argv, measure.bench, compare.bench_check))
        density_argv = self.parts["density"].argv
        if density_argv is not None:
            density_argv = plan.with_ring(density_argv, config.facts.get("ring") or {})
        density = _timed(4, "density", "a real Ironic's sync cycles", p,
                         self._part("density", density_argv, measure.density, compare.density_check))
        return [patches, config, bench, density]

    def save(self, checks: list[Check]) -> dict[str, Any] | None:
        """Write the new baseline, unless a measured part failed (a wrong baseline is worse than none)."""
        path = self.args.save_baseline
        if not path:
            return None
        broken = [c for c in checks if c.name in self.parts and c.status == FAILED]
        if broken:
            return {"path": None, "error": "; ".join(f"{c.name} failed" for c in broken)}
        skipped = {c.name: c.summary for c in checks if c.name in self.parts and c.name not in self.docs}
        settings = {"argv": sys.argv[1:], **{n: p.argv for n, p in self.parts.items()}}
        baselines.save(path, self.environment, settings, dict(self.docs), skipped)
        return {"path": path, "error": None}


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps(doc, indent=1) + "\n"
    return report.render_markdown(doc) if fmt == "markdown" else report.render_table(doc) + "\n"


def run(args: argparse.Namespace) -> int:
    started = _now()
    pre = Preflight(args)
    pre.progress.note(f"preflight: work directory {pre.work}")
    checks = pre.checks()
    saved = pre.save(checks)
    doc = report.document(checks, started=started, finished=_now(), baseline=pre.baseline,
                          thresholds=pre.thresholds, candidate=pre.environment, work=str(pre.work),
                          saved=saved)
    if args.output:
        Path(args.output).write_text(render(doc, args.format))
        sys.stdout.write(render(doc, "table"))
        print(f"report: {args.output}")
    else:
        sys.stdout.write(render(doc, args.format))
    return doc["exit_code"]
