"""Separation of duties over the real server: the MCP tools call the same operations, so the
author's self-assignment and self-review are refused with the rule named, as a structured
error (one real streamable-http server, the official client)."""

from __future__ import annotations

import anyio
import pytest

from _mcp_support import body, ok, refused

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.mark.req("REQ-SOD-001")
@pytest.mark.req("REQ-SOD-002")
def test_author_cannot_assign_or_review_self_over_mcp(serve):
    served = serve("streamable-http")

    async def scenario() -> None:
        async with served.client() as client:
            doc = (await ok(client, "qms_create", user="claude", doc_type="SOP",
                            title="Mine"))["doc_id"]
            await ok(client, "qms_checkin", user="claude", doc_id=doc, content=body("Mine", "x"))
            text = await refused(client, "qms_route", user="claude", doc_id=doc,
                                 route_type="review", assignees=["qa", "claude"])
            assert "separation of duties (SOP-007 4.1)" in text
            assert "cannot be assigned to review it" in text
            status = await ok(client, "qms_status", user="qa", doc_id=doc)
            assert (status["status"], status["pending_assignees"]) == ("DRAFT", [])

            await ok(client, "qms_route", user="claude", doc_id=doc, route_type="review")
            text = await refused(client, "qms_assign", user="qa", doc_id=doc,
                                 assignees=["claude"])
            assert "separation of duties" in text
            text = await refused(client, "qms_review", user="claude", doc_id=doc,
                                 outcome="recommend", comment="looks great to me")
            assert "claude is the author (responsible user)" in text
            assert "cannot review it" in text
            result = await client.call_tool("qms_review", {
                "user": "claude", "doc_id": doc, "outcome": "recommend", "comment": "again"})
            error = result.structured_content["error"]
            assert (error["code"], error["details"]["rule"]) == \
                ("permission_denied", "separation_of_duties")

    anyio.run(scenario)
