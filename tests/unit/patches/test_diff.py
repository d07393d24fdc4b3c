"""The Python diff parser and hunk applier against what git itself produces."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironic_scale.patches.checksum import ABSENT, blob_sha1
from ironic_scale.patches.diff import HunkMismatch, apply_hunks, parse_diffs, split_lines
from ironic_scale.patches.errors import SeriesError
from ironic_scale.patches.series import load_series
from tests import patch_series as maker


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    r = tmp_path_factory.mktemp("diffrepo")
    maker.git(r, "init", "-q")
    maker.git(r, "config", "core.autocrlf", "false")
    return r


def git_diff(repo: Path, old: bytes, new: bytes, context: int) -> bytes:
    """git's own diff from ``old`` (staged) to ``new`` (working tree) of one file."""
    f = repo / "ironic" / "f.py"
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(old)
    maker.git(repo, "add", "ironic/f.py")
    f.write_bytes(new)
    return subprocess.run(["git", "-C", str(repo), "diff", "--full-index", "--no-color", "--text",
                           f"-U{context}", "--", "ironic/f.py"],
                          check=True, capture_output=True).stdout


# Lines chosen to look like diff syntax, with CRs, non-UTF-8 bytes and repeats (so hunks have
# ambiguous context): the parser must go by the hunk counts, never by what a line looks like.
LINE = st.sampled_from([b"a", b"b", b"c", b"", b"-- ", b"--- a/x", b"+++ b/x", b"diff --git a/x b/x",
                        b"@@ -1 +1 @@", b"\\ No newline", b"x\r", b"\xff\xfe", b" lead", b"index 0..1"])


def content(lines: list[bytes], final_newline: bool) -> bytes:
    data = b"\n".join(lines)
    return data + b"\n" if lines and final_newline else data


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.lists(LINE, max_size=30), new_edits=st.lists(st.tuples(st.integers(0, 30), LINE), max_size=8),
       drops=st.lists(st.integers(0, 30), max_size=6), old_nl=st.booleans(), new_nl=st.booleans(),
       context=st.sampled_from([0, 1, 3]))
def test_applying_gits_diff_gives_gits_result(repo, old, new_edits, drops, old_nl, new_nl, context):
    new = list(old)
    for i in sorted(set(drops), reverse=True):
        if i < len(new):
            del new[i]
    for i, line in new_edits:
        new.insert(min(i, len(new)), line)
    before, after = content(old, old_nl), content(new, new_nl)
    diff = git_diff(repo, before, after, context)
    if before == after:
        assert diff == b""
        return
    (fd,) = parse_diffs(diff, "git diff")
    assert (fd.path, fd.pre, fd.post) == ("ironic/f.py", blob_sha1(before), blob_sha1(after))
    assert apply_hunks(before, fd.hunks, fd.path) == after


def test_split_lines_keeps_carriage_returns_inside_lines():
    assert split_lines(b"a\r\nb\rc\nd") == [b"a\r\n", b"b\rc\n", b"d"]
    assert split_lines(b"") == []


def test_a_hunk_that_does_not_match_names_the_file_and_line(repo):
    (fd,) = parse_diffs(git_diff(repo, b"1\n2\n3\n4\n", b"1\n2\nthree\n4\n", 1), "t")
    with pytest.raises(HunkMismatch, match=r"^ironic/f\.py: hunk 1 does not match the file at line 2$"):
        apply_hunks(b"1\nTWO\n3\n4\n", fd.hunks, fd.path)
    # Exact position only: the same lines one line further down are not searched for.
    with pytest.raises(HunkMismatch):
        apply_hunks(b"0\n1\n2\n3\n4\n", fd.hunks, fd.path)


def _made(tmp_path: Path, commits: list[maker.Commit]) -> list[Path]:
    made = maker.make_series(tmp_path, commits)
    return [made.series / n for n in made.names]


def test_new_file_without_final_newline_and_deleted_file(tmp_path):
    (patch,) = _made(tmp_path, [maker.Commit("new and gone", {
        "ironic/tests/unit/x.py": maker.create("no newline at the end"),
        "ironic/tests/unit/conductor/mgr_utils.py": maker.delete})])
    deleted, created = parse_diffs(patch.read_bytes(), patch.name)  # git sorts by path
    assert created.path == "ironic/tests/unit/x.py"
    assert (created.pre, created.mode, created.created) == (ABSENT, 0o644, True)
    assert apply_hunks(b"", created.hunks, created.path) == b"no newline at the end"
    assert deleted.deleted and deleted.post == ABSENT
    stock = (maker.SITE / deleted.path).read_bytes()
    assert apply_hunks(stock, deleted.hunks, deleted.path) == b""


def test_empty_new_file_has_no_hunks(tmp_path):
    (patch,) = _made(tmp_path, [maker.Commit("empty", {"ironic/tests/unit/empty.py": maker.create("")})])
    (fd,) = parse_diffs(patch.read_bytes(), patch.name)
    assert fd.hunks == () and fd.post == blob_sha1(b"")


def test_quoted_path_with_non_ascii_name(tmp_path):
    name = "ironic/tests/unit/caf\u00e9 x.py"
    (patch,) = _made(tmp_path, [maker.Commit("odd name", {name: maker.create("x = 1\n")})])
    assert b'"a/ironic/tests/unit/caf\\303\\251 x.py"' in patch.read_bytes()  # git quoted it
    (fd,) = parse_diffs(patch.read_bytes(), patch.name)
    assert fd.path == name


def test_blank_context_line_stripped_by_a_mailer_still_applies(tmp_path):
    (patch,) = _made(tmp_path, [maker.Commit("c", {"ironic/conf/conductor.py": maker.insert_after(
        "opts = [", "    # x\n")})])
    data = patch.read_bytes()
    assert b"\n \n" in data
    (fd,) = parse_diffs(data.replace(b"\n \n", b"\n\n"), patch.name)
    stock = (maker.SITE / fd.path).read_bytes()
    assert blob_sha1(apply_hunks(stock, fd.hunks, fd.path)) == fd.post


def _commit_all(repo: Path, message: str) -> None:
    maker.git(repo, "add", "-A")
    maker.git(repo, "commit", "-q", "-m", message)


@pytest.mark.parametrize("change, flags, error", [
    ("rename", ["--full-index", "-M"], "renames and copies are not supported (make the series with --no-"),
    ("binary", ["--full-index"], "binary diffs are not supported"),
    ("mode", ["--full-index"], "mode changes are not supported"),
    ("plain", [], "abbreviated blob ids (make the series with --full-index)"),
])
def test_what_the_series_must_not_contain_is_refused_with_one_line(tmp_path, change, flags, error):
    repo = tmp_path / "r"
    repo.mkdir()
    maker.git(repo, "init", "-q")
    maker.git(repo, "config", "user.email", "d@example.invalid")
    maker.git(repo, "config", "user.name", "D")
    (repo / "ironic").mkdir()
    (repo / "ironic" / "a.py").write_text("".join(f"line {i}\n" for i in range(40)))
    _commit_all(repo, "stock")
    if change == "rename":
        maker.git(repo, "mv", "ironic/a.py", "ironic/b.py")
    elif change == "binary":
        (repo / "ironic" / "a.py").write_bytes(b"\0\1\2")
    elif change == "mode":
        (repo / "ironic" / "a.py").chmod(0o755)
    else:
        with open(repo / "ironic" / "a.py", "a") as f:
            f.write("more\n")
    _commit_all(repo, change)
    maker.git(repo, "format-patch", "-q", *flags, "-o", str(tmp_path / "out"), "HEAD~1")
    (patch,) = (tmp_path / "out").glob("*.patch")
    with pytest.raises(SeriesError) as e:
        parse_diffs(patch.read_bytes(), patch.name)
    assert error in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"{patch.name}: line ")


def test_truncated_patch_file_is_refused(standard):
    patch = standard.series / standard.names[0]
    data = patch.read_bytes()
    cut = data[:data.index(b"+    cfg.BoolOpt('bulk_power_sync'")]
    with pytest.raises(SeriesError, match="hunk ends early"):
        parse_diffs(cut, patch.name)


def test_a_file_without_any_diff_is_refused(tmp_path):
    with pytest.raises(SeriesError, match=r"^notes\.txt: no 'diff --git' in it$"):
        parse_diffs(b"Subject: hello\n\njust words\n", "notes.txt")


def test_the_standard_series_parses_into_the_expected_files(standard):
    series = load_series(standard.series)
    assert [len(p.diffs) for p in series.patches] == [2, 2, 4]
    plans = {p.path: p for p in series.plans()}
    manager = plans["ironic/conductor/manager.py"]
    assert len(manager.steps) == 2
    assert manager.stock == manager.steps[0].pre == blob_sha1((maker.SITE / manager.path).read_bytes())
    assert manager.patched == manager.steps[1].post == blob_sha1(standard.patched_bytes(manager.path))


def test_a_path_leaving_the_tree_is_refused():
    diff = (b"diff --git a/ironic/../../evil.py b/ironic/../../evil.py\nnew file mode 100644\n"
            b"index 0000000000000000000000000000000000000000..e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\n")
    with pytest.raises(SeriesError, match=r"^x\.patch: line 1: unsafe path 'ironic/\.\./\.\./evil\.py'$"):
        parse_diffs(diff, "x.patch")


def test_text_after_the_last_diff_that_is_not_the_signature_is_refused(standard):
    data = (standard.series / standard.names[0]).read_bytes().replace(b"\n-- \n", b"\nstray text\n")
    with pytest.raises(SeriesError, match="unexpected line 'stray text'"):
        parse_diffs(data, "x.patch")
