"""`qms-mcp-proxy` in front of the real `qms-mcp` server: identity enforcement end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from _proxy_support import proxied, text

from mcp import Client
from mcp.shared.exceptions import MCPError

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.req("REQ-MCP-021")]

QMS_MCP = str(Path(sys.executable).with_name("qms-mcp"))
TTL = 2.0


@pytest.fixture
def qms_server(server_factory, project: Path):  # `project`: a fresh project (tests/conftest.py)
    argv = [QMS_MCP, "--transport", "streamable-http", "--host", "127.0.0.1",
            "--project-root", str(project), "--identity-ttl", str(TTL), "--log-level", "WARNING"]
    return server_factory(argv)


def audit_events(project: Path, event: str) -> int:
    """How many `event`s the CR audit trails hold (init's seed documents are not CRs)."""
    return sum(
        json.loads(line)["event"] == event
        for path in (project / "QMS/.audit/CR").glob("*.jsonl")
        for line in path.read_text().splitlines()
    )


async def inbox(client: Client, user: str):
    return await client.call_tool("qms_inbox", {"user": user})


LIFECYCLE = [  # (who, tool, extra arguments): a CR from creation to closure
    ("claude", "qms_create", {"doc_type": "CR", "title": "Via proxy"}),
    ("claude", "qms_checkin", {"doc_id": "CR-001", "content": "---\ntitle: Via proxy\n"
                               "revision_summary: Plan\n---\n\n# CR-001: Via proxy\n\nThe plan.\n"}),
    ("claude", "qms_route", {"doc_id": "CR-001", "route_type": "review"}),
    ("qa", "qms_review", {"doc_id": "CR-001", "outcome": "recommend", "comment": "ok"}),
    ("claude", "qms_route", {"doc_id": "CR-001", "route_type": "approval"}),
    ("qa", "qms_approve", {"doc_id": "CR-001"}),
    ("claude", "qms_release", {"doc_id": "CR-001"}),
    ("claude", "qms_checkout", {"doc_id": "CR-001"}),
    ("claude", "qms_checkin", {"doc_id": "CR-001"}),
    ("claude", "qms_route", {"doc_id": "CR-001", "route_type": "review"}),
    ("qa", "qms_review", {"doc_id": "CR-001", "outcome": "recommend", "comment": "done"}),
    ("claude", "qms_route", {"doc_id": "CR-001", "route_type": "approval"}),
    ("qa", "qms_approve", {"doc_id": "CR-001"}),
    ("claude", "qms_close", {"doc_id": "CR-001"}),
]


async def test_full_cr_lifecycle_with_enforced_identities(qms_server, project):
    async with proxied(qms_server.url, user="claude") as claude, proxied(qms_server.url, user="qa") as qa:
        agents = {"claude": claude, "qa": qa}
        assert "qms_create" in {tool.name for tool in (await claude.list_tools()).tools}
        for user, tool, arguments in LIFECYCLE:
            result = await agents[user].call_tool(tool, {"user": user, **arguments})
            assert not result.is_error, f"{tool} as {user}: {text(result)}"
        status = await claude.call_tool("qms_status", {"user": "claude", "doc_id": "CR-001"})
        assert "CLOSED" in text(status)
    trail = [json.loads(line) for line in (project / "QMS/.audit/CR/CR-001.jsonl").read_text().splitlines()]
    assert {e["user"] for e in trail if e["event"] in ("REVIEW", "APPROVE")} == {"qa"}
    assert audit_events(project, "CREATE") == 1


async def test_impersonation_is_refused_naming_the_real_identity(qms_server):
    async with proxied(qms_server.url, user="qa") as client:
        result = await inbox(client, "claude")
    assert result.is_error
    assert "'qa'" in text(result) and "impersonation" in text(result)


async def test_an_empty_qms_user_is_refused_not_trusted(qms_server):
    async with proxied(qms_server.url, user="") as client:
        result = await inbox(client, "lead")
    assert result.is_error and "empty" in text(result)


async def test_second_proxy_with_the_same_identity_is_locked_out(qms_server):
    async with proxied(qms_server.url, user="qa") as first, proxied(qms_server.url, user="qa") as second:
        assert not (await inbox(first, "qa")).is_error
        refused = await inbox(second, "qa")
        assert refused.is_error and "IDENTITY LOCKED" in text(refused)
        assert not (await inbox(first, "qa")).is_error  # the holder keeps working


async def test_headerless_host_call_is_refused_while_a_proxy_holds_the_identity(qms_server):
    async with proxied(qms_server.url, user="qa") as agent:
        assert not (await inbox(agent, "qa")).is_error
        async with Client(qms_server.url, mode="legacy") as host:
            refused = await inbox(host, "qa")
            assert refused.is_error and "IDENTITY LOCKED" in text(refused)
            assert not (await inbox(host, "lead")).is_error


async def test_identity_is_free_after_the_proxy_exits_and_the_ttl_passes(qms_server):
    async with proxied(qms_server.url, user="qa") as agent:
        assert not (await inbox(agent, "qa")).is_error
    await anyio.sleep(TTL + 0.5)
    async with Client(qms_server.url, mode="legacy") as host:
        assert not (await inbox(host, "qa")).is_error
    async with proxied(qms_server.url, user="qa") as other:
        assert not (await inbox(other, "qa")).is_error


async def test_server_restart_mid_session(qms_server, project):
    async with proxied(qms_server.url, "--retries", "0", user="claude") as client:
        await client.call_tool("qms_create", {"user": "claude", "doc_type": "CR", "title": "Before"})
        qms_server.kill()
        with pytest.raises(MCPError, match="unreachable.*NOT executed"):
            await client.call_tool("qms_create", {"user": "claude", "doc_type": "CR", "title": "While down"})
        qms_server.start()
        after = await client.call_tool("qms_create", {"user": "claude", "doc_type": "CR", "title": "After"})
        assert not after.is_error and "CR-002" in text(after)
    assert audit_events(project, "CREATE") == 2


async def test_a_call_is_never_executed_twice(server_factory, project):
    argv = [QMS_MCP, "--transport", "streamable-http", "--host", "127.0.0.1", "--project-root", str(project)]
    server = server_factory(argv, start=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, server.start)  # comes up while the proxy retries
        async with proxied(server.url, "--retries", "8", user="claude") as client:
            for title in ("one", "two", "three"):
                result = await client.call_tool("qms_create", {"user": "claude", "doc_type": "CR", "title": title})
                assert not result.is_error
    assert audit_events(project, "CREATE") == 3
    assert sorted(p.name for p in (project / "QMS/CR").glob("CR-*")) == ["CR-001", "CR-002", "CR-003"]
