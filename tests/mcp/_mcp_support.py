"""Helpers shared by the qms-mcp tests: tool calls and the full CR lifecycle."""

from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp import Client

QMS_MCP = str(Path(sys.executable).with_name("qms-mcp"))
QMS_CLI = str(Path(sys.executable).with_name("qms"))
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy

EXPOSED = {
    "qms_inbox", "qms_workspace", "qms_status", "qms_read", "qms_history", "qms_comments",
    "qms_create", "qms_checkout", "qms_checkin", "qms_cancel", "qms_route", "qms_assign",
    "qms_review", "qms_approve", "qms_reject", "qms_withdraw", "qms_release", "qms_revert",
    "qms_close", "qms_fix", "qms_unlock", "qms_interact", "qms_qualify", "qms_verify",
    "qms_code_checkout",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, headers: dict[str, str] | None = None,
         data: bytes | None = None) -> tuple[int, bytes]:
    """GET (or POST `data`) without raising on HTTP errors: (status, body)."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _DIRECT.open(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def body(title: str, text: str) -> str:
    return f"---\ntitle: {title}\nrevision_summary: {text}\n---\n\n# {title}\n\n{text}\n"


async def ok(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured result."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, f"{tool}({args}) refused: {result.content[0].text}"
    assert result.structured_content["ok"] is True
    return result.structured_content["result"]


async def refused(client: Client, tool: str, **args: Any) -> str:
    """Call a tool that must be refused; return the error text (also checks the error shape)."""
    result = await client.call_tool(tool, args)
    assert result.is_error, f"{tool}({args}) unexpectedly succeeded"
    text = result.content[0].text
    if result.structured_content is not None:  # a QMSError, not an SDK argument error
        assert result.structured_content["ok"] is False
        assert result.structured_content["error"]["message"] == text
    return text


def lifecycle_steps(title: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(user, tool, args) after `create`: pre-approval, release, execution, post-approval, close."""
    return [
        ("claude", "qms_checkin", {"content": body(title, "Plan")}),
        ("claude", "qms_route", {"route_type": "review"}),
        ("qa", "qms_review", {"outcome": "recommend", "comment": "Plan is sound"}),
        ("claude", "qms_route", {"route_type": "approval"}),
        ("qa", "qms_approve", {}),
        ("claude", "qms_release", {}),
        ("claude", "qms_checkout", {}),
        ("claude", "qms_checkin", {"content": body(title, "Executed")}),
        ("claude", "qms_route", {"route_type": "review"}),
        ("qa", "qms_review", {"outcome": "recommend", "comment": "Execution verified"}),
        ("claude", "qms_route", {"route_type": "approval"}),
        ("qa", "qms_approve", {}),
        ("claude", "qms_close", {}),
    ]


async def lifecycle(client_for: Callable[[str], Client], title: str = "Fix X") -> str:
    """Drive one CR from create to CLOSED; `client_for(user)` picks the session. Returns its ID."""
    creator = client_for("claude")
    created = await ok(creator, "qms_create", user="claude", doc_type="CR", title=title)
    doc_id = created["doc_id"]
    for user, tool, args in lifecycle_steps(title):
        await ok(client_for(user), tool, user=user, doc_id=doc_id, **args)
    status = await ok(client_for("claude"), "qms_status", user="claude", doc_id=doc_id)
    assert status["status"] == "CLOSED", status
    return doc_id


async def remaining_tools(client: Client) -> None:
    """Exercise every tool the lifecycle does not: workspace, inbox, assign, withdraw, cancel,
    unlock, reject, interact, revert, fix, verify (one trusted session acting as several
    users)."""
    async def status(doc_id: str) -> str:
        return (await ok(client, "qms_status", user="lead", doc_id=doc_id))["status"]

    a = (await ok(client, "qms_create", user="claude", doc_type="CR", title="Withdrawn"))["doc_id"]
    assert a in str(await ok(client, "qms_workspace", user="claude"))
    await ok(client, "qms_checkin", user="claude", doc_id=a, content=body("Withdrawn", "Plan"))
    await ok(client, "qms_route", user="claude", doc_id=a, route_type="review")
    assert a in str(await ok(client, "qms_inbox", user="qa"))
    await ok(client, "qms_assign", user="qa", doc_id=a, assignees=["tu"])
    assert a in str(await ok(client, "qms_inbox", user="tu"))
    await ok(client, "qms_withdraw", user="claude", doc_id=a)
    assert await status(a) == "DRAFT"
    await ok(client, "qms_cancel", user="claude", doc_id=a, confirm=True)

    b = (await ok(client, "qms_create", user="claude", doc_type="CR", title="Rejected"))["doc_id"]
    await ok(client, "qms_checkin", user="claude", doc_id=b, content=body("Rejected", "Plan"))
    await ok(client, "qms_checkout", user="claude", doc_id=b)
    await ok(client, "qms_unlock", user="lead", doc_id=b, reason="stale checkout")
    for user, tool, args in lifecycle_steps("Rejected")[1:4]:
        await ok(client, tool, user=user, doc_id=b, **args)
    await ok(client, "qms_reject", user="qa", doc_id=b, comment="Scope unclear")
    assert await status(b) == "PRE_REVIEWED"

    c = (await ok(client, "qms_create", user="claude", doc_type="CR", title="Reverted"))["doc_id"]
    for user, tool, args in lifecycle_steps("Reverted")[:6]:
        await ok(client, tool, user=user, doc_id=c, **args)
    vr = (await ok(client, "qms_create", user="claude", doc_type="VR", title="Check", parent=c))
    await ok(client, "qms_interact", user="claude", doc_id=vr["doc_id"], respond="EI-1")
    assert "EI-1" in str(await ok(client, "qms_interact", user="claude", doc_id=vr["doc_id"],
                                  compile=True))
    for user, tool, args in lifecycle_steps("Reverted")[8:10]:
        await ok(client, tool, user=user, doc_id=c, **args)
    await ok(client, "qms_revert", user="claude", doc_id=c, reason="One more step")
    assert await status(c) == "IN_EXECUTION"
    await ok(client, "qms_fix", user="lead", doc_id="SOP-001")
    verified = await ok(client, "qms_verify", user="qa")  # REQ-INTEG-006: the MCP tool
    assert verified["clean"] is True and verified["findings"] == [], verified
    assert (await ok(client, "qms_verify", user="qa", doc_ids=[c]))["documents"] == 1
