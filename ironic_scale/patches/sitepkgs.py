"""Where Ironic is installed and which version it is, read from files, never by importing it.

Importing ``ironic`` to ask would load the very modules about to be patched (and their
stale bytecode) into this process; the dist-info's METADATA says the version pip installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ironic_scale.patches.errors import PatchesError


def default_site_packages() -> Path:
    """The directory holding the ``ironic`` package this interpreter would import."""
    spec = importlib.util.find_spec("ironic")
    if spec is None or not spec.submodule_search_locations:
        raise PatchesError("this Python cannot import ironic; pass --site-packages DIR")
    return Path(list(spec.submodule_search_locations)[0]).resolve().parent


def ironic_dir(site: Path) -> Path:
    """``site/ironic``, or a one-line error if there is no Ironic package there."""
    package = site / "ironic"
    if not (package / "__init__.py").is_file():
        raise PatchesError(f"no ironic package in {site}")
    return package


def dist_infos(site: Path) -> list[Path]:
    """Ironic's ``ironic-*.dist-info`` directories in ``site`` (normally exactly one)."""
    return sorted(p for p in site.glob("ironic-*.dist-info") if p.is_dir())


def ironic_version(site: Path) -> str | None:
    """The installed Ironic's version from its dist-info METADATA; None if unknown or ambiguous."""
    versions = set()
    for d in dist_infos(site):
        try:
            text = (d / "METADATA").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        name = version = None
        for line in text.splitlines():
            if not line.strip():
                break  # end of the header block
            key, _, value = line.partition(":")
            if key.lower() == "name":
                name = value.strip()
            elif key.lower() == "version":
                version = value.strip()
        if name and name.lower() == "ironic" and version:
            versions.add(version)
    return versions.pop() if len(versions) == 1 else None
