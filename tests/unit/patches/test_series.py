"""The series file, subjects, and what the series does to each file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ironic_scale.patches.errors import SeriesError
from ironic_scale.patches.series import load_series, subject_of
from tests import patch_series as maker


@pytest.fixture
def copy(standard, tmp_path) -> Path:
    d = tmp_path / "series"
    shutil.copytree(standard.series, d)
    return d


def write_series(d: Path, text: str) -> None:
    (d / "series").write_text(text)


def test_the_standard_series_loads_in_order(standard):
    series = load_series(standard.series)
    assert series.ironic_version == "39.0.0"
    assert [p.name for p in series.patches] == standard.names
    assert [p.subject for p in series.patches] == [
        "Add [conductor]bulk_power_sync", "Bulk power sync in the conductor and the driver base",
        "Tests for bulk power sync"]
    plans = series.plans()
    assert [p.path for p in plans if not p.installed] == [
        "releasenotes/notes/bulk-power-sync-0123456789abcdef.yaml"]
    assert len(series.installed_plans()) == len(plans) - 1


def test_comments_and_blank_lines_are_ignored(copy, standard):
    write_series(copy, "\n# made by hand\n  # ironic-version: 39.0.0  \n\n" +
                 "\n\n".join(standard.names) + "\n# trailing comment\n")
    assert [p.name for p in load_series(copy).patches] == standard.names


def test_non_ascii_and_folded_subjects_are_decoded(tmp_path):
    subject = "Ünïcödé sync: a subject long enough that git folds it over several mail header lines"
    made = maker.make_series(tmp_path, [maker.Commit(subject, {
        "ironic/drivers/base.py": lambda old: old + "# x\n"})])
    data = (made.series / made.names[0]).read_bytes()
    assert b"=?UTF-8?q?" in data and b"\n =?UTF-8?q?" in data  # encoded and folded by git
    assert load_series(made.series).patches[0].subject == subject


def test_a_bare_git_diff_has_no_subject(standard):
    data = (standard.series / standard.names[0]).read_bytes()
    assert subject_of(data[data.index(b"diff --git"):]) == ""


@pytest.mark.parametrize("text, message", [
    ("0001-x.patch\n", "no '# ironic-version: X.Y.Z' line naming the Ironic it fits"),
    ("# ironic-version: 39.0.0\n# ironic-version: 39.0.1\n", ":2: a second '# ironic-version:' line"),
    ("# ironic-version:\n", ":1: '# ironic-version:' names no version"),
    ("# ironic-version: 39.0.0\n", "lists no patches"),
    ("# ironic-version: 39.0.0\n0001-x.patch -p1\n", ":2: options after a patch name are not supported"),
    ("# ironic-version: 39.0.0\nsub/0001-x.patch\n", ":2: patch names are plain file names"),
    ("# ironic-version: 39.0.0\nmissing.patch\n", "the series names missing.patch, which is not in"),
])
def test_a_bad_series_file_gets_one_line(copy, standard, text, message):
    write_series(copy, text)
    with pytest.raises(SeriesError) as e:
        load_series(copy)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_patch_listed_twice_is_refused(copy, standard):
    write_series(copy, f"# ironic-version: 39.0.0\n{standard.names[0]}\n{standard.names[0]}\n")
    with pytest.raises(SeriesError, match=f":3: {standard.names[0]} is listed twice"):
        load_series(copy)


def test_no_series_file(tmp_path):
    with pytest.raises(SeriesError) as e:
        load_series(tmp_path)
    assert str(e.value) == f"no patch series at {tmp_path} (no 'series' file); pass --series DIR"


def test_patches_out_of_order_do_not_chain(copy, standard):
    """The third patch changes manager.py where the second left it; swapped, the ids do not meet."""
    write_series(copy, "# ironic-version: 39.0.0\n" + "\n".join(
        [standard.names[0], standard.names[2], standard.names[1]]) + "\n")
    with pytest.raises(SeriesError, match=(rf"the series does not chain: {standard.names[1]} expects "
                                           r"ironic/conductor/manager\.py at [0-9a-f]{12}, but "
                                           rf"{standard.names[2]} leaves it at [0-9a-f]{{12}}")):
        load_series(copy)
