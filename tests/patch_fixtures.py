"""Patch-series fixtures: real series made with git, and real copies of the installed Ironic to patch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ironic_scale.patches.series import Series, load_series
from tests import patch_series as maker


def copy_site(dest: Path, site: Path = maker.SITE) -> Path:
    """A site-packages holding a copy of the installed Ironic and its dist-info (no bytecode)."""
    dest.mkdir(parents=True)
    shutil.copytree(site / "ironic", dest / "ironic", ignore=shutil.ignore_patterns("__pycache__"))
    for info in site.glob("ironic-*.dist-info"):
        shutil.copytree(info, dest / info.name)
    return dest


@pytest.fixture(scope="session")
def standard(tmp_path_factory) -> maker.Made:
    """The standard test series (like the real one), made once per run."""
    return maker.make_series(tmp_path_factory.mktemp("standard"), maker.STANDARD)


@pytest.fixture
def series(standard) -> Series:
    return load_series(standard.series)


@pytest.fixture
def site(tmp_path) -> Path:
    """A fresh copy of the installed Ironic: the tests patch this, never the venv's own."""
    return copy_site(tmp_path / "site")
