"""The identity matrix against a real server process (spec section 5, CR-075)."""

from __future__ import annotations

import anyio
import pytest

from _mcp_support import body, ok, refused

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def as_agent(identity: str, instance: str) -> dict[str, str]:
    return {"X-QMS-Identity": identity, "X-QMS-Instance": instance}


async def ok_as(served, headers, tool, **args):
    async with served.client(headers) as client:
        return await ok(client, tool, **args)


async def refused_as(served, headers, tool, **args) -> str:
    async with served.client(headers) as client:
        return await refused(client, tool, **args)


@pytest.mark.req("REQ-MCP-015")
@pytest.mark.req("REQ-MCP-016")
@pytest.mark.req("REQ-MCP-009")
def test_identity_matrix(serve):
    ttl = 3.0
    served = serve("streamable-http", "--identity-ttl", str(ttl))
    qa_a, qa_b = as_agent("qa", "aaaaaaaa-1111"), as_agent("qa", "bbbbbbbb-2222")

    async def scenario() -> None:
        # header present: user must match it; the error names the real identity and warns
        text = await refused_as(served, qa_a, "qms_inbox", user="claude")
        assert "identified as 'qa'" in text and "user='qa'" in text and "impersonation" in text
        assert "'user' argument is required" in await refused_as(served, qa_a, "qms_inbox", user="")

        await ok_as(served, qa_a, "qms_inbox", user="qa")  # locks qa to instance A
        for headers in ({}, qa_b):  # trusted caller, then a second instance: both locked out
            text = await refused_as(served, headers, "qms_inbox", user="qa")
            assert text.startswith("IDENTITY LOCKED:") and "not troubleshoot" in text
            assert "aaaaaaaa" in text
        await ok_as(served, {}, "qms_inbox", user="claude")  # other identities unaffected

        # heartbeat: each call by instance A renews the lock
        for _ in range(2):
            await anyio.sleep(ttl * 0.6)  # together the two pauses outlast one TTL
            await ok_as(served, qa_a, "qms_inbox", user="qa")
        assert (await refused_as(served, {}, "qms_inbox", user="qa")).startswith("IDENTITY LOCKED:")

        # TTL expiry frees the identity (crash recovery)
        await anyio.sleep(ttl + 1)
        await ok_as(served, {}, "qms_inbox", user="qa")  # trusted never takes a lock ...
        await ok_as(served, qa_b, "qms_inbox", user="qa")  # ... so instance B may now claim it

        # permissions follow the resolved identity: a reviewer cannot create, even by naming claude
        tu = as_agent("tu", "cccccccc-3333")
        assert "identified as 'tu'" in await refused_as(served, tu, "qms_create", user="claude",
                                                        doc_type="CR", title="Escalation")
        denied = await refused_as(served, tu, "qms_create", user="tu", doc_type="CR", title="Nope")
        assert "tu" in denied
        created = await ok_as(served, as_agent("claude", "dddd"), "qms_create", user="claude",
                              doc_type="CR", title="Mine")
        assert created["responsible_user"] == "claude"

    anyio.run(scenario)


@pytest.mark.req("REQ-MCP-015")
@pytest.mark.req("REQ-MCP-012")
def test_header_mode_on_sse(serve):
    served = serve("sse")

    async def scenario() -> None:
        text = await refused_as(served, as_agent("qa", "a1"), "qms_inbox", user="lead")
        assert "impersonation" in text
        await ok_as(served, as_agent("qa", "a1"), "qms_inbox", user="qa")
        assert (await refused_as(served, {}, "qms_inbox", user="qa")).startswith("IDENTITY LOCKED:")

    anyio.run(scenario)


@pytest.mark.req("REQ-MCP-009")
def test_route_chooses_assignees_by_the_callers_rules(serve):
    served = serve("streamable-http")

    async def scenario() -> None:
        async with served.client({}) as client:
            doc = (await ok(client, "qms_create", user="claude", doc_type="SOP",
                            title="Routed"))["doc_id"]
            await ok(client, "qms_checkin", user="claude", doc_id=doc,
                     content=body("Routed", "Text"))
            text = await refused(client, "qms_route", user="claude", doc_id=doc,
                                 route_type="review", assignees=["nobody"])
            assert "nobody" in text
            routed = await ok(client, "qms_route", user="claude", doc_id=doc,
                              route_type="review", assignees=["qa", "tu"])
            assert "qa, tu" in routed["message"]
            assert (await ok(client, "qms_status", user="qa", doc_id=doc))[
                "pending_assignees"] == ["qa", "tu"]
            assert doc in str(await ok(client, "qms_inbox", user="tu"))

    anyio.run(scenario)
