"""``qms_interact file=`` and ``qms_qualify junit=`` on a real server never read the project's
secrets for a caller: the signing key, the token store, git's files, another user's folder
(issue 15, Why 1)."""

from __future__ import annotations

import anyio
import pytest

from _mcp_support import ok, refused
from conftest import vr_in_execution
from qms import operations as ops
from qms.store.project import Project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.req("REQ-HARD-003"),
              pytest.mark.req("REQ-HARD-009")]

VR = "CR-001-VR-001"


def _vr(root) -> None:
    """CR-001 in execution with VR-001 checked out to claude."""
    vr_in_execution(root)
    p = Project.open(root)
    ops.token_issue(p, "lead", name="claude")
    ops.namespace_add(p, "lead", name="T")


def test_mcp_reads_never_reach_secrets(serve, project):
    _vr(project)
    kid = next((project / "QMS" / ".keys").glob("*.pub")).stem
    key = f".qms/keys/{kid}.key"
    seed = (project / key).read_text().strip()
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[credential]\n\thelper = store\n")
    (project / ".claude/users/qa/workspace/private.md").write_text("qa only\n")
    own = project / ".claude/users/claude/workspace"
    (own / "key.txt").symlink_to(project / key)
    (own / "answer.txt").write_text("EI-1\n")
    served = serve("streamable-http")
    attacks = [(key, ".qms/"), (".qms/tokens.json", ".qms/"), (str(project / key), ".qms/"),
               (f"QMS/../{key}", ".qms/"), (".git/config", ".git/"),
               (".claude/users/qa/workspace/private.md", ".claude/users/qa/"),
               (".claude/users/claude/../qa/workspace/private.md", ".claude/users/qa/"),
               (".claude/users/claude/workspace/key.txt", "symbolic link")]

    async def scenario() -> None:
        async with served.client() as client:
            for path, area in attacks:
                text = await refused(client, "qms_interact", user="claude", doc_id=VR,
                                     file=path)
                assert area in text and seed not in text, (path, text)
                text = await refused(client, "qms_qualify", user="claude", namespace="T",
                                     junit=[path], check=True)
                assert area in text and seed not in text, (path, text)
            status = await ok(client, "qms_interact", user="claude", doc_id=VR)
            assert status["cursor"] == "related_eis"  # nothing was recorded
            done = await ok(client, "qms_interact", user="claude", doc_id=VR,
                            file=".claude/users/claude/workspace/answer.txt")
            assert done["recorded"]["value"] == "EI-1"

    anyio.run(scenario)
    for path in project.rglob("*"):
        if ".qms" not in path.relative_to(project).parts and path.is_file() \
                and not path.is_symlink():
            assert seed not in path.read_text(errors="replace"), path
