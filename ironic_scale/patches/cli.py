"""``ironic-scale patches``: list, check, apply, revert, copy the patch series against Ironic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ironic_scale.patches import tree
from ironic_scale.patches.errors import (
    EXIT_CHANGED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_OTHER_SERIES,
    EXIT_PARTLY,
    EXIT_VERSION,
    DoesNotFit,
)
from ironic_scale.patches.series import Patch, Series, load_series
from ironic_scale.patches.sitepkgs import default_site_packages

EXIT_CODES = f"""exit codes (check; apply and copy use the same on the same conditions):
  {EXIT_OK}  applied, or not applied and applies cleanly (apply, revert: done or nothing to do)
  {EXIT_ERROR}  error: no series or a malformed one, no Ironic in --site-packages, read-only tree,
     revert refused because patched files were changed since apply
  {EXIT_VERSION}  does not fit: Ironic is not the version the series names (or its version is unknown)
  {EXIT_CHANGED}  does not fit: files changed by someone else (neither stock nor patched)
  {EXIT_PARTLY}  does not fit: partly applied (an interrupted apply: run revert)
  {EXIT_OTHER_SERIES}  does not fit: another series' record is in force (run revert first)"""


def add_patches(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--series", type=Path, metavar="DIR",
                        help="series directory with a 'series' file (default: the one this ironic-scale "
                             f"ships, {tree.default_series_dir()})")
    site = argparse.ArgumentParser(add_help=False)
    site.add_argument("--site-packages", type=Path, metavar="DIR",
                      help="where the ironic package and its dist-info are (default: where this Python "
                           "imports ironic from)")
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "patches", help="the _sync_power_states patch series against Ironic", formatter_class=fmt,
        description="A quilt-style series of git format-patch files against one Ironic version. Only "
                    "files under ironic/ are installed; release notes exist only in Ironic's source "
                    "tree. Checks use the git blob ids on each diff's index line. apply keeps a record "
                    "(ironic/.ironic-scale-patches) that revert works from.",
        epilog=EXIT_CODES)
    cmds = p.add_subparsers(dest="patches_command", required=True)
    cmds.add_parser("list", parents=[common], help="the series in order: name, subject, files",
                    ).set_defaults(func=_list)
    cmds.add_parser("check", parents=[common, site], formatter_class=fmt, epilog=EXIT_CODES,
                    help="applied, not applied (applies cleanly), or does not fit (and why)",
                    ).set_defaults(func=_check)
    cmds.add_parser("apply", parents=[common, site], formatter_class=fmt, epilog=EXIT_CODES,
                    help="apply the series, all or nothing (already applied: exit 0)",
                    ).set_defaults(func=_apply)
    cmds.add_parser("revert", parents=[site], formatter_class=fmt, epilog=EXIT_CODES,
                    help="restore the stock files from apply's record (nothing applied: exit 0)",
                    ).set_defaults(func=_revert)
    cp = cmds.add_parser("copy", parents=[common, site], formatter_class=fmt, epilog=EXIT_CODES,
                         help="copy the installed Ironic to DEST and apply the series there",
                         description="Copies ironic/ (without __pycache__) and its dist-info into DEST, "
                                     "then applies the series there. Put DEST first on PYTHONPATH to "
                                     "run the patched Ironic beside the installed one.")
    cp.add_argument("dest", type=Path, metavar="DEST", help="target directory (must not hold ironic/ yet)")
    cp.set_defaults(func=_copy)


def _series(args: argparse.Namespace) -> Series:
    return load_series(args.series if args.series is not None else tree.default_series_dir())


def _site(args: argparse.Namespace) -> Path:
    return args.site_packages if args.site_packages is not None else default_site_packages()


def _not_fit(e: DoesNotFit) -> int:
    print(f"ironic-scale patches: error: {e}", file=sys.stderr)
    return e.code


def _list(args: argparse.Namespace) -> int:
    series = _series(args)
    print(f"series {series.directory} (for Ironic {series.ironic_version}): {len(series.patches)} patches")
    for patch in series.patches:
        print(f"{patch.name}: {patch.subject or '(no subject)'}")
        for line in _file_lines(patch):
            print(f"    {line}")
    return EXIT_OK


def _file_lines(patch: Patch) -> list[str]:
    lines = []
    for d in patch.diffs:
        verb = "creates" if d.created else "deletes" if d.deleted else "changes"
        if d.path.startswith("ironic/"):
            note = ""
        elif d.path.startswith("releasenotes/"):
            note = "  (release note: only in Ironic's source tree, not installed)"
        else:
            note = "  (outside ironic/: not installed)"
        lines.append(f"{verb} {d.path}{note}")
    return lines


def _check(args: argparse.Namespace) -> int:
    status = tree.inspect(_site(args), _series(args))
    print(status.message)
    for note in status.notes:
        print(f"note: {note}")
    return status.code


def _apply(args: argparse.Namespace) -> int:
    try:
        tree.apply(_site(args), _series(args), say=print)
    except DoesNotFit as e:
        return _not_fit(e)
    return EXIT_OK


def _revert(args: argparse.Namespace) -> int:
    tree.revert(_site(args), say=print)
    return EXIT_OK


def _copy(args: argparse.Namespace) -> int:
    try:
        tree.patched_copy(args.dest, _site(args), series=_series(args), say=print)
    except DoesNotFit as e:
        return _not_fit(e)
    return EXIT_OK
