"""``qms_interact`` on a real streamable-http server: same parameters and results as the
operation (and so the CLI)."""

from __future__ import annotations

import anyio
import pytest

from _mcp_support import body, ok, refused

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.req("REQ-INT-022")]

VR = "CR-001-VR-001"


def test_interact_tool(serve, project):
    served = serve("streamable-http")

    async def scenario() -> None:
        async with served.client() as client:
            await ok(client, "qms_create", user="claude", doc_type="CR", title="Fix X")
            await ok(client, "qms_checkin", user="claude", doc_id="CR-001",
                     content=body("Fix X", "Plan"))
            await ok(client, "qms_route", user="claude", doc_id="CR-001", route_type="review")
            await ok(client, "qms_review", user="qa", doc_id="CR-001", outcome="recommend",
                     comment="ok")
            await ok(client, "qms_route", user="claude", doc_id="CR-001", route_type="approval")
            await ok(client, "qms_approve", user="qa", doc_id="CR-001")
            await ok(client, "qms_release", user="claude", doc_id="CR-001")
            await ok(client, "qms_create", user="claude", doc_type="VR", title="Check",
                     parent="CR-001")

            status = await ok(client, "qms_interact", user="claude", doc_id=VR)
            assert status["action"] == "status" and status["cursor"] == "related_eis"
            done = await ok(client, "qms_interact", user="claude", doc_id=VR, respond="EI-1")
            assert done["recorded"] == {"key": "related_eis", "value": "EI-1",
                                        "amended": False, "commit": None}
            assert done["cursor"] == "objective"
            moved = await ok(client, "qms_interact", user="claude", doc_id=VR,
                             goto="related_eis", reason="typo", respond="ignored")
            assert moved["action"] == "goto"
            amended = await ok(client, "qms_interact", user="claude", doc_id=VR,
                               respond="EI-2")
            assert amended["recorded"]["amended"] and amended["cursor"] == "objective"
            progress = await ok(client, "qms_interact", user="claude", doc_id=VR,
                                progress=True)
            assert "[x] related_eis (amended)" in progress["text"]
            preview = await ok(client, "qms_interact", user="claude", doc_id=VR, compile=True)
            assert "| CR-001 | EI-2 |" in preview["text"]
            assert "has not been answered" in await refused(
                client, "qms_interact", user="claude", doc_id=VR, goto="objective",
                reason="x")

    anyio.run(scenario)
