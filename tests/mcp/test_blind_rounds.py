"""Blind review rounds over the real server: `qms_history` and `qms_comments` (the official
MCP client, streamable-http) hide other reviewers' entries of the open round."""

from __future__ import annotations

import json

import anyio
import pytest

from _mcp_support import ok
from conftest import fill

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90), pytest.mark.req("REQ-INTEG-024")]

SECRET = "tu thinks section 4 is wrong"


def test_open_round_is_blind_over_mcp(serve, project):
    served = serve("streamable-http")

    async def scenario() -> None:
        async with served.client() as client:
            doc = (await ok(client, "qms_create", user="claude", doc_type="SOP",
                            title="Blind"))["doc_id"]
            fill(project, doc)
            await ok(client, "qms_route", user="claude", doc_id=doc, route_type="review",
                     assignees=["qa", "tu"])
            await ok(client, "qms_review", user="tu", doc_id=doc, outcome="request-updates",
                     comment=SECRET)
            for viewer in ("qa", "claude"):
                history = await client.call_tool("qms_history", {"user": viewer, "doc_id": doc})
                text = json.dumps(history.structured_content) + history.content[0].text
                assert SECRET not in text and "UPDATES_REQUIRED" not in text
                assert "request-updates" not in text
                review = [e for e in history.structured_content["result"]["events"]
                          if e["event"] == "REVIEW"]
                assert [(e["user"], e.get("sealed")) for e in review] == [("tu", True)]
                comments = await ok(client, "qms_comments", user=viewer, doc_id=doc)
                assert comments["comments"] == []
            own = await ok(client, "qms_history", user="tu", doc_id=doc)
            assert any(e.get("comment") == SECRET for e in own["events"])
            own = await ok(client, "qms_comments", user="tu", doc_id=doc)
            assert [c["comment"] for c in own["comments"]] == [SECRET]
            await ok(client, "qms_review", user="qa", doc_id=doc, outcome="recommend",
                     comment="fine")
            closed = await ok(client, "qms_history", user="qa", doc_id=doc)
            assert any(e.get("comment") == SECRET for e in closed["events"])

    anyio.run(scenario)
