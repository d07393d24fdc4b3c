"""The parts that read files only: does the patch series fit this Ironic, do the configs pass ``check``.

Both run in-process through the functions behind ``ironic-scale patches check`` and
``ironic-scale check``. Either may be "not available": the patch tool needs an Ironic this
Python imports, the config checker needs Ironic's and oslo.upgradecheck's modules. A preflight
run outside the conductor's venv says so instead of failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ironic_scale.preflight.model import FAILED, NOT_AVAILABLE, OK, SKIPPED, Check

APPLIED = "applied"


def patches_check(baseline_state: str | None, site: Path | None = None) -> Check:
    """``patches check`` on the Ironic this Python imports (or in ``site``); ``facts['state']``
    is its verdict.

    Fits (applied, or applies cleanly) is ok; does not fit fails. When the baseline's
    environment had the series applied and this one has not, the check says so: an upgrade
    of Ironic replaces the patched files, and the sync is stock again until it is re-applied.
    """
    try:
        from ironic_scale.patches import tree
        from ironic_scale.patches.errors import PatchesError
        from ironic_scale.patches.series import load_series
        from ironic_scale.patches.sitepkgs import default_site_packages
    except ModuleNotFoundError as e:
        return Check("patches", NOT_AVAILABLE, f"this ironic-scale has no patch tool ({e.name})",
                     facts={"state": NOT_AVAILABLE})
    try:
        site = site or default_site_packages()
    except (PatchesError, ModuleNotFoundError) as e:  # no Ironic here (or one that cannot be found)
        return Check("patches", NOT_AVAILABLE, str(e), facts={"state": NOT_AVAILABLE})
    try:
        status = tree.inspect(site, load_series(tree.default_series_dir()))
    except PatchesError as e:
        return Check("patches", FAILED, str(e), facts={"state": "unknown"})
    check = Check("patches", FAILED if status.verdict == tree.NOT_FIT else OK, status.message,
                  [f"note: {n}" for n in status.notes], facts={"state": status.verdict, "code": status.code})
    if status.verdict == tree.NOT_FIT:
        check.details.append(f"'ironic-scale patches check' would exit {status.code}")
    elif baseline_state == APPLIED and status.verdict != APPLIED:
        check.details.append("the baseline environment ran with the series applied, this one does not: run "
                             "'ironic-scale patches apply' here (and keep [conductor]bulk_power_sync = true)")
    return check


def _service_args(config_files: list[str], apis: list[str],
                  conductors: list[str]) -> tuple[list[str], list[str]]:
    """``--config-file`` F1 F2 is one process's files, read by an API service and a conductor alike
    (one controller, or the all-in-one ``ironic``); ``--api``/``--conductor`` add services as
    ``ironic-scale check`` takes them."""
    one = [",".join(config_files)] if config_files else []
    return apis + one, conductors + one


def _ring(fleet: Any) -> dict[str, str]:
    """The ring settings the configs set (only those set): the density run uses the same."""
    service = (fleet.conductors or fleet.apis)[0]
    names = ("hash_partition_exponent", "hash_ring_algorithm")
    return {name: str(getattr(service.conf, name)) for name in names if service.is_set(name)}


def config_check(config_files: list[str], apis: list[str], conductors: list[str]) -> Check:
    """``ironic-scale check`` on the given configs: failures fail, warnings pass with their details.

    ``facts['ring']`` holds the ring settings the configs set, ``facts['ring_text']`` says
    which ring they configure (for the environment table).
    """
    if not (config_files or apis or conductors):
        return Check("config", SKIPPED, "no --config-file (or --api/--conductor) given: no config to check")
    try:
        import oslo_upgradecheck  # noqa: F401 - the checker's result model
        from oslo_upgradecheck.upgradecheck import Code

        from ironic_scale.sharding.check_cli import evaluate
        from ironic_scale.sharding.confload import ConfigError
    except ModuleNotFoundError as e:
        return Check("config", NOT_AVAILABLE, f"the config checker needs {e.name}, which this Python lacks: "
                     "run the preflight in the conductor's venv")
    api_args, conductor_args = _service_args(config_files, apis, conductors)
    try:
        results, fleet = evaluate(api_args, conductor_args)
    except ModuleNotFoundError as e:
        return Check("config", NOT_AVAILABLE, f"the config checker needs {e.name}, which this Python lacks")
    except ConfigError as e:
        return Check("config", FAILED, str(e))
    counts = {code: sum(1 for _, r in results if r.code == code) for code in Code}
    tally = ", ".join(f"{n} {code.name}" for code, n in counts.items() if n)
    bad = [(name, r) for name, r in results if r.code != Code.SUCCESS]
    details = [f"{r.code.name} {name}: {r.details}" for name, r in bad]
    ring = _ring(fleet)
    service = (fleet.conductors or fleet.apis)[0]
    facts = {"ring": ring, "ring_text": f"exponent {service.conf.hash_partition_exponent}, "
                                        f"{service.conf.hash_ring_algorithm}"}
    failed = counts[Code.FAILURE] > 0
    worst = [name for name, r in bad if r.code == Code.FAILURE] if failed else [name for name, _ in bad]
    summary = (f"{len(results)} checks over {len(fleet.services)} service(s): {tally}"
               + (f" ({', '.join(worst)})" if worst else ""))
    return Check("config", FAILED if failed else OK, summary, details, facts=facts)
