"""The one decision of what qms may read for a caller (operations._shared.caller_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qms.errors import PermissionDenied, ValidationError
from qms.operations._shared import caller_path
from qms.store.project import Project

pytestmark = [pytest.mark.req("REQ-HARD-003"), pytest.mark.req("REQ-HARD-009")]


@pytest.mark.parametrize("file, area", [
    (".qms/keys/k.key", ".qms/"), (".QMS/keys/k.key", ".QMS/"), ("a/../.qms/lock", ".qms/"),
    (".git/config", ".git/"), ("vendor/lib/.git/config", "vendor/lib/.git/"),
    (".Git/config", ".Git/"), (".claude/users/qa/workspace/x.md", ".claude/users/qa/"),
    (".claude/users/Claude/workspace/x.md", ".claude/users/Claude/"),
    (".Claude/Users/qa/inbox/t.md", ".Claude/Users/qa/"),
    (".claude/users/x.md", ".claude/users/x.md/"),
    (".claude/users/claude/workspace/../../qa/x", ".claude/users/qa/"),
])
def test_private_areas_are_refused(tmp_path, file, area):
    project = Project(tmp_path)
    for spelled in (file, str(tmp_path / file)):
        with pytest.raises(PermissionDenied) as err:
            caller_path(project, "claude", spelled)
        assert err.value.details["area"] == area and area in err.value.message


@pytest.mark.parametrize("file", ["../x", "/etc/passwd", ".claude/users/claude/../../../../x", "."])
def test_outside_is_refused(tmp_path, file):
    with pytest.raises(PermissionDenied, match="outside the project"):
        caller_path(Project(tmp_path), "claude", file)


@pytest.mark.parametrize("file", [".claude/users/claude/workspace/a.txt",
                                  ".claude/users/claude/inbox/t.md", "results/junit.xml",
                                  "QMS/SOP/SOP-001.md", ".claude/agents/qa.md", "x.qms/y",
                                  "docs/.gitignore"])
def test_own_folder_and_ordinary_files_are_readable(tmp_path, file):
    assert caller_path(Project(tmp_path), "claude", file) == Path(tmp_path / file)


def test_a_nul_byte_is_refused_cleanly(tmp_path):
    with pytest.raises(ValidationError, match="NUL"):
        caller_path(Project(tmp_path), "claude", "notes\x00.txt")
