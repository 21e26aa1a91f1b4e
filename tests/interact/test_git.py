"""Evidence commits: scope, repository discovery, failures."""

from __future__ import annotations

import pytest

from qms.errors import ProjectError
from qms.store import git as evidence

from .conftest import git, make_repo

pytestmark = pytest.mark.req("REQ-INT-020")


def test_outside_a_repository_nothing_happens(tmp_path):
    assert evidence.Repo.find(tmp_path) is None
    assert evidence.evidence_commit(tmp_path, "m", [tmp_path / "a"]) is None


def test_project_in_a_subfolder_with_ignored_and_deleted_files(tmp_path):
    make_repo(tmp_path)
    project = tmp_path / "sub" / "proj"
    project.mkdir(parents=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (project / "ignored").mkdir()
    (project / "tracked.md").write_text("v1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "setup")
    (project / "tracked.md").unlink()
    (project / "new.json").write_text("{}\n")
    (project / "ignored" / "session").write_text("x\n")
    (project / "other.txt").write_text("not mine\n")
    short = evidence.evidence_commit(
        project, "[QMS] D | Evidence capture | p",
        [project / "tracked.md", project / "new.json", project / "ignored" / "session",
         project / "absent.md"])
    assert short == git(tmp_path, "rev-parse", "--short", "HEAD").strip()
    changed = git(tmp_path, "show", "--name-status", "--format=", "HEAD").split("\n")
    assert sorted(filter(None, changed)) == ["A\tsub/proj/new.json", "D\tsub/proj/tracked.md"]
    assert "?? sub/proj/other.txt" in git(tmp_path, "status", "--short")


def test_empty_commit_still_pins_the_state(tmp_path):
    make_repo(tmp_path)
    before = git(tmp_path, "rev-parse", "HEAD")
    assert evidence.evidence_commit(tmp_path, "pin", []) is not None
    assert git(tmp_path, "rev-parse", "HEAD^") == before


def test_git_errors_are_raised_with_gits_message(tmp_path):
    make_repo(tmp_path)
    (tmp_path / ".git" / "index.lock").write_text("")
    with pytest.raises(ProjectError, match="Evidence commit failed: git commit: .*index.lock"):
        evidence.evidence_commit(tmp_path, "m", [])


def test_only_the_named_files_even_with_glob_characters_or_none(tmp_path):
    make_repo(tmp_path)
    for folder in ("proj[1]", "proj1"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.md").write_text("x\n")
    evidence.evidence_commit(tmp_path, "none named", [])
    assert git(tmp_path, "show", "--name-only", "--format=", "HEAD").strip() == ""
    evidence.evidence_commit(tmp_path, "one named", [tmp_path / "proj[1]" / "a.md"])
    assert git(tmp_path, "show", "--name-only", "--format=", "HEAD").split() == ["proj[1]/a.md"]


@pytest.mark.req("REQ-CODE-019")
def test_a_governed_evidence_commit_holds_only_qms_data(tmp_path):
    """Under code control main changes only by qms merge and qms's own data: an evidence
    commit never sweeps staged code onto main (it is refused, nothing committed)."""
    make_repo(tmp_path)
    project = tmp_path / "proj"
    (project / "QMS").mkdir(parents=True)
    (project / "QMS" / "a.md").write_text("x\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print('hand')\n")
    git(tmp_path, "add", "src/app.py", "proj/QMS/a.md")
    before = git(tmp_path, "rev-parse", "HEAD")
    with pytest.raises(ProjectError, match="'src/app.py'.*not qms's own data"):
        evidence.evidence_commit(project, "m", [project / "QMS" / "a.md"], data_only=True)
    assert git(tmp_path, "rev-parse", "HEAD") == before
    git(tmp_path, "restore", "--staged", "src/app.py")
    assert evidence.evidence_commit(project, "m", [project / "QMS" / "a.md"], data_only=True)
    assert git(tmp_path, "show", "--name-only", "--format=", "HEAD").split() == [
        "proj/QMS/a.md"]
