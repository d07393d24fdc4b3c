"""The patched Ironic the ``native-ipmi-patched`` series runs: made once per run, then checked.

``ironic_scale.patches.tree.patched_copy`` copies the installed ``ironic`` package
and its dist-info into the run's work directory and applies ``patches/`` there;
the stack puts that directory first on every Ironic process's PYTHONPATH, so the
venv's own Ironic is never touched. Because oslo.config ignores options it does
not know, a stack that imported the wrong Ironic would run stock code without a
word: so before any stack starts, a Python started the way the stack starts its
processes must import Ironic from the copy and find the series' option there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from ironic_scale.stack.processes import python_environment

COPY_DIR = "ironic-patched"

_CHECK = """
import json, sys
import ironic
from ironic.conf import CONF
print(json.dumps({"file": ironic.__file__, "has_option": hasattr(getattr(CONF, sys.argv[1]), sys.argv[2])}))
"""


class PatchedIronicUnavailable(RuntimeError):
    """No patched copy of Ironic could be made, or it is not what the stack would import."""


def make_copy(work: Path) -> Path:
    """A fresh patched copy under ``work``; returns the directory to put first on PYTHONPATH."""
    try:
        from ironic_scale.patches.tree import patched_copy
    except ModuleNotFoundError as e:
        if e.name not in ("ironic_scale.patches", "ironic_scale.patches.tree"):
            raise
        raise PatchedIronicUnavailable(
            "the native-ipmi-patched series needs the patch series (ironic_scale.patches), which this "
            "checkout lacks: leave it out with --drivers ipmi,native-ipmi") from None
    dest = work / COPY_DIR
    if dest.exists():  # never run a copy left by an earlier run: the series may have changed
        shutil.rmtree(dest)
    return Path(patched_copy(dest))


def check_copy(path: Path, section: str, option: str) -> str:
    """Import Ironic with ``path`` first, as the stack will; return the ``ironic`` package's file.

    :raises PatchedIronicUnavailable: Ironic came from elsewhere, or lacks ``[section]option``.
    """
    proc = subprocess.run([sys.executable, "-c", _CHECK, section, option], capture_output=True, text=True,
                          timeout=120, env=python_environment((str(path),)))
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise PatchedIronicUnavailable(f"importing the patched Ironic from {path} failed: {tail[0]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(found["file"]).resolve().is_relative_to(path.resolve()):
        raise PatchedIronicUnavailable(
            f"with {path} first on PYTHONPATH, Ironic is still imported from {found['file']}")
    if not found["has_option"]:
        raise PatchedIronicUnavailable(
            f"the patched Ironic in {path} has no [{section}]{option}: is the patch series applied?")
    return found["file"]
