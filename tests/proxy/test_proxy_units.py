"""The proxy's retry rule and settings, without processes."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp_types import JSONRPCRequest

from qms.proxy.config import ProxyConfig
from qms.proxy.envelope import outbound_headers
from qms.proxy.upstream_http import UpstreamTransport

pytestmark = pytest.mark.anyio


class Scripted(httpx2.AsyncBaseTransport):
    """Raises the scripted errors in turn, then answers 200."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent += 1
        if self.errors:
            raise self.errors.pop(0)
        return httpx2.Response(200, json={"ok": True}, request=request)


async def send(inner: Scripted, retries: int = 2, session: bool = False) -> httpx2.Response:
    lost = []
    transport = UpstreamTransport(ProxyConfig("http://127.0.0.1:1/mcp", retries=retries), lambda: lost.append(1))
    transport._inner = inner
    headers = {"mcp-session-id": "abc"} if session else {}
    response = await transport.handle_async_request(
        httpx2.Request("POST", "http://127.0.0.1:1/mcp", content=b"{}", headers=headers)
    )
    response.lost = bool(lost)
    return response


def error_message(response: httpx2.Response) -> str:
    return json.loads(response.content)["error"]["message"]


async def test_connect_failures_are_retried_then_succeed():
    inner = Scripted(httpx2.ConnectError("refused"), httpx2.ConnectTimeout("slow"))
    response = await send(inner, retries=2)
    assert response.status_code == 200 and inner.sent == 3


async def test_connect_failures_beyond_retries_answer_unreachable():
    inner = Scripted(*(httpx2.ConnectError("refused") for _ in range(5)))
    response = await send(inner, retries=1)
    assert inner.sent == 2 and response.status_code == 503
    message = error_message(response)
    assert "unreachable after 2 attempt(s)" in message and "NOT executed" in message


@pytest.mark.parametrize("error", [httpx2.ReadTimeout("slow"), httpx2.RemoteProtocolError("reset"),
                                   httpx2.WriteError("broken"), httpx2.ReadError("reset")])
async def test_failures_after_sending_are_never_retried(error):
    inner = Scripted(error)
    response = await send(inner, retries=5)
    assert inner.sent == 1 and "NOT re-sent" in error_message(response)


async def test_unknown_session_is_reported_as_not_executed():
    class Gone(Scripted):
        async def handle_async_request(self, request):
            self.sent += 1
            body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
            return httpx2.Response(404, json=body)

    response = await send(Gone(), session=True)
    assert response.status_code == 404 and response.lost
    assert "NOT executed" in error_message(response)
    assert not (await send(Gone(), session=False)).lost  # a 404 without a session is the server's answer


def test_identity_headers_from_environment():
    config = ProxyConfig.from_env("http://h/mcp", 3, 10, {"QMS_USER": " qa ", "QMS_TOKEN": "t0k"})
    headers = config.headers()
    assert headers["X-QMS-Identity"] == "qa" and headers["Authorization"] == "Bearer t0k"
    assert len(headers["X-QMS-Instance"]) == 32
    blank = ProxyConfig.from_env("http://h/mcp", 3, 10, {"QMS_USER": " ", "QMS_TOKEN": " "}).headers()
    assert blank["X-QMS-Identity"] == "" and "Authorization" not in blank  # fail closed, not trusted
    assert set(ProxyConfig.from_env("http://h/mcp", 3, 10, {}).headers()) == {"X-QMS-Instance"}
    assert "t0k" not in repr(config)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("http://u:secret@host:8000/mcp", "http://host:8000/mcp"),
        ("http://[::1]:8000/mcp", "http://[::1]:8000/mcp"),
    ],
)
def test_safe_url_drops_credentials(url, safe):
    assert ProxyConfig(url).safe_url == safe


def test_envelope_headers_for_modern_requests_and_negotiated_version():
    modern = JSONRPCRequest(jsonrpc="2.0", id=1, method="tools/call", params={
        "name": "echo", "arguments": {}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}})
    assert outbound_headers(modern, None, {}) == {
        "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo"}
    legacy = JSONRPCRequest(jsonrpc="2.0", id=2, method="tools/list")
    assert outbound_headers(legacy, "2025-11-25", {}) == {"mcp-protocol-version": "2025-11-25"}
    initialize = JSONRPCRequest(jsonrpc="2.0", id=3, method="initialize", params={})
    assert outbound_headers(initialize, "2025-11-25", {}) is None
