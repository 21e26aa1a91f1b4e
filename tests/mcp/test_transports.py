"""Every transport started for real (`qms-mcp --transport ...`) and driven by the official client:
tool list, a full CR lifecycle, every other tool, and refusals (the INV-008 lesson: test the real
startup path)."""

from __future__ import annotations

import anyio
import pytest

from _mcp_support import EXPOSED, lifecycle, ok, refused, remaining_tools

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.mark.parametrize("transport", [
    "stdio",
    pytest.param("sse", marks=pytest.mark.req("REQ-MCP-012")),
    pytest.param("streamable-http", marks=pytest.mark.req("REQ-MCP-014")),
])
@pytest.mark.req("REQ-MCP-011")
@pytest.mark.req("REQ-MCP-010")
@pytest.mark.req("REQ-MCP-008")
def test_transport_serves_every_tool(serve, transport):
    served = serve(transport)
    doc_id = ""

    async def scenario() -> None:
        nonlocal doc_id
        async with served.client() as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == EXPOSED  # never init/namespace/user/migrate, no qms_noop
            for tool in tools.values():
                assert "user" in tool.input_schema["required"], tool.name
                for name, prop in tool.input_schema["properties"].items():  # agents need them
                    assert prop.get("description"), f"{tool.name}.{name} has no description"
                assert tool.output_schema and "ok" in tool.output_schema["properties"], tool.name

            doc_id = await lifecycle(lambda _user: client)
            history = await ok(client, "qms_history", user="qa", doc_id=doc_id)
            assert "CLOSE" in str(history)
            comments = await ok(client, "qms_comments", user="qa", doc_id=doc_id)
            assert "Execution verified" in str(comments)
            read = await ok(client, "qms_read", user="qa", doc_id=doc_id)
            assert "Executed" in str(read)
            await remaining_tools(client)

            missing = await refused(client, "qms_status", user="claude", doc_id="CR-999")
            assert "not found" in missing.lower()
            assert "'user' argument is required" in await refused(client, "qms_inbox", user="  ")
            assert "user" in await refused(client, "qms_status", doc_id=doc_id)  # schema error
            denied = await refused(client, "qms_create", user="qa", doc_type="CR", title="Not mine")
            assert "qa" in denied
            await refused(client, "qms_route", user="claude", doc_id=doc_id, route_type="sideways")
            await refused(client, "qms_checkout", user="claude", doc_id=doc_id)  # CLOSED: terminal

        async with served.client(mode="legacy") as client:  # the initialize handshake works too
            assert len((await client.list_tools()).tools) == len(EXPOSED)
            assert (await ok(client, "qms_status", user="qa", doc_id=doc_id))["status"] == "CLOSED"

    anyio.run(scenario)
