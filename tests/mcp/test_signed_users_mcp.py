"""The signed user registry through the real `qms-mcp --auth required` (issue 22, points 1
and 3): an agent with its own token that edits its `group:` line, a user file added by
hand, a policy by group emptied by an edit; every tool call is refused while an agent file
disagrees with the registry (and the identity registry's `known=` check with it), and the
chain alone says who may do what once the file is put back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

from _mcp_support import QMS_CLI, ok, refused

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

REFUSED = "it was changed outside qms. Nothing was changed."


def cli(root: Path, *args: str) -> dict:
    run = subprocess.run([QMS_CLI, "--json", *args], cwd=root, capture_output=True, text=True,
                         timeout=60)
    return json.loads(run.stdout)


def bearer(root: Path, user: str) -> dict[str, str]:
    token = cli(root, "--user", "lead", "token", "issue", user)["result"]["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def review_project(project):
    """ini (initiator) with CR-001 waiting for review by qa."""
    assert cli(project, "--user", "lead", "user", "--add", "ini", "--group", "initiator")["ok"]
    assert cli(project, "--user", "claude", "create", "CR", "--title", "x")["ok"]
    draft = project / ".claude/users/claude/workspace/CR-001.md"
    draft.write_text("---\ntitle: x\nrevision_summary: r\n---\n\n# CR-001\n\nBody.\n")
    assert cli(project, "--user", "claude", "route", "CR-001", "--review", "--assign", "qa")["ok"]
    return project


@pytest.mark.req("REQ-USER-008")
def test_a_hand_edited_group_is_refused_over_mcp_and_the_chain_decides(
        serve, review_project):
    async def scenario() -> None:
        root = review_project
        headers = bearer(root, "ini")
        served = serve("streamable-http", "--auth", "required")
        agent = root / ".claude/agents/ini.md"
        original = agent.read_text()
        async with served.client(headers) as client:
            await ok(client, "qms_status", user="ini", doc_id="CR-001")
            agent.write_text(original.replace("group: initiator", "group: quality"))
            for tool, args in (("qms_assign", {"doc_id": "CR-001", "assignees": ["ini"]}),
                               ("qms_status", {"doc_id": "CR-001"}),
                               ("qms_review", {"doc_id": "CR-001", "outcome": "recommend",
                                               "comment": "mine"})):
                text = await refused(client, tool, user="ini", **args)
                assert REFUSED in text and ".claude/agents/ini.md says group quality" in text
            agent.write_text(original)
            text = await refused(client, "qms_assign", user="ini", doc_id="CR-001",
                                 assignees=["ini"])
            assert "requires group quality; ini is in group initiator" in text
        status = cli(root, "--user", "qa", "status", "CR-001")["result"]
        assert status["pending_assignees"] == ["qa"]

    anyio.run(scenario)


@pytest.mark.req("REQ-USER-008")
def test_a_user_file_added_by_hand_names_nobody_over_mcp(serve, review_project):
    async def scenario() -> None:
        root = review_project
        served = serve("streamable-http")  # header identities (no token): the known= check
        (root / ".claude/agents/eve.md").write_text("---\nname: eve\ngroup: quality\n---\n")
        async with served.client({"X-QMS-Identity": "eve"}) as client:
            text = await refused(client, "qms_assign", user="eve", doc_id="CR-001",
                                 assignees=["tu"])
            assert ".claude/agents/eve.md declares user eve" in text
        (root / ".claude/agents/eve.md").unlink()
        async with served.client({"X-QMS-Identity": "eve"}) as client:
            text = await refused(client, "qms_inbox", user="eve")
            assert "Unknown user 'eve'" in text

    anyio.run(scenario)


@pytest.mark.req("REQ-PK-008")
def test_a_policy_by_group_survives_an_edit_that_empties_the_group(
        serve, review_project):
    async def scenario() -> None:
        root = review_project
        assert cli(root, "--user", "lead", "config", "set", "signatures.passkey", "quality")["ok"]
        headers = bearer(root, "qa")
        served = serve("streamable-http", "--auth", "required")
        agent = root / ".claude/agents/qa.md"
        original = agent.read_text()
        agent.write_text(original.replace("group: quality", "group: reviewer"))
        async with served.client(headers) as client:
            text = await refused(client, "qms_review", user="qa", doc_id="CR-001",
                                 outcome="recommend", comment="fine")
            assert REFUSED in text
            agent.write_text(original)
            text = await refused(client, "qms_review", user="qa", doc_id="CR-001",
                                 outcome="recommend", comment="fine")
            assert "signs only with a passkey" in text
        result = cli(root, "--user", "qa", "verify")["result"]
        assert result["clean"], result["findings"]

    anyio.run(scenario)
