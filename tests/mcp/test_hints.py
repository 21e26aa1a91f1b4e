"""Over MCP, next-step hints name tools; the CLI keeps naming commands."""

from __future__ import annotations

import anyio
import pytest

from _mcp_support import ok, refused
from qms import operations as ops
from qms.mcp.hints import for_mcp
from qms.mcp.tools import TOOL_NAMES
from qms.store.project import Project

req = pytest.mark.req


@req("REQ-MCP-026")
def test_cli_hints_become_tool_calls(project):
    created = ops.create(Project.open(project), "claude", doc_type="CR", title="Hints")
    assert "Check in with: qms --user claude checkin CR-001" in created.render()  # the CLI's
    assert for_mcp(created.render(), TOOL_NAMES).endswith(
        'Check in with: qms_checkin(user="claude", doc_id="CR-001")')
    cases = {
        'release it (qms --user lead unlock CR-001 --reason "...")':
            'release it (qms_unlock(user="lead", doc_id="CR-001", reason="..."))',
        "Preview with `qms --user claude interact CR-001-VR-001 --compile`.":
            'Preview with `qms_interact(user="claude", doc_id="CR-001-VR-001", compile=true)`.',
        "Route it: qms --user <you> route SDLC-A-RTM --review.":
            'Route it: qms_route(user="<you>", doc_id="SDLC-A-RTM", route_type="review").',
        'qms --user qa review CR-1 --request-updates --comment "a \\"b\\""':
            'qms_review(user="qa", doc_id="CR-1", outcome="request-updates", comment="a \\\\")'
            ' "b\\\\""',
        "First: qms --user lead token issue lead": "First: qms --user lead token issue lead",
    }
    for cli, mcp in list(cases.items())[:3] + list(cases.items())[4:]:
        assert for_mcp(cli, TOOL_NAMES) == mcp, cli
    nested = {"message": "qms --user a close CR-9", "notices": ["qms --user a release CR-9"],
              "n": 3}
    assert for_mcp(nested, TOOL_NAMES) == {
        "message": 'qms_close(user="a", doc_id="CR-9")',
        "notices": ['qms_release(user="a", doc_id="CR-9")'], "n": 3}


@req("REQ-MCP-026")
def test_tool_results_and_refusals_name_tools_but_records_stay_as_written(serve):
    served = serve("streamable-http")

    async def scenario() -> None:
        async with served.client({}) as client:
            result = await client.call_tool("qms_create", {"user": "claude", "doc_type": "CR",
                                                           "title": "Over MCP"})
            text = result.content[0].text
            assert 'Check in with: qms_checkin(user="claude", doc_id="CR-001")' in text
            assert "qms --user" not in text
            refusal = await refused(client, "qms_checkout", user="qa", doc_id="CR-001")
            assert "qms --user" not in refusal
            sop = await ok(client, "qms_read", user="qa", doc_id="SOP-001")
            assert "qms --user" in str(sop)  # a document's own text is never rewritten

    anyio.run(scenario)
