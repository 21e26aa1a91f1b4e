"""Host/Origin allow-lists on a real server, bound to 127.0.0.1 and to 0.0.0.0 (we only ever
connect to 127.0.0.1, forging the Host/Origin headers)."""

from __future__ import annotations

import json

import pytest

from _mcp_support import http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60), pytest.mark.req("REQ-MCP-014")]

PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()


def post(url: str, host: str, origin: str | None = None) -> int:
    headers = {"Host": host, "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}
    if origin:
        headers["Origin"] = origin
    return http(url, headers, PING)[0]


def get(url: str, host: str, origin: str | None = None) -> int:
    return http(url, {"Host": host, **({"Origin": origin} if origin else {})})[0]


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_host_and_origin_checks(serve, bind):
    insecure = ["--insecure"] if bind == "0.0.0.0" else []  # Host checks, not auth, are tested
    served = serve("streamable-http", "--allow-host", "qms.internal", *insecure, host=bind)
    port = served.port
    mcp, health = f"{served.base}/mcp", f"{served.base}/healthz"
    for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", "localhost",
                 f"[::1]:{port}", f"host.docker.internal:{port}", "host.docker.internal",
                 "qms.internal", f"qms.internal:{port}"):
        assert post(mcp, host) == 200, host
        assert get(health, host) == 200, host
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
        assert post(mcp, host) == 421, host
        assert get(health, host) == 421, host
    good = f"127.0.0.1:{port}"
    for origin in (f"http://localhost:{port}", "http://127.0.0.1",
                   "http://host.docker.internal:3000"):
        assert post(mcp, good, origin) == 200, origin
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null"):
        assert post(mcp, good, origin) == 403, origin
        assert get(health, good, origin) == 403, origin


def test_sse_endpoints_are_guarded(serve):
    served = serve("sse", "--auth", "required", host="0.0.0.0")
    local = f"localhost:{served.port}"
    assert get(f"{served.base}/sse", "evil.example") == 421
    assert post(f"{served.base}/messages/?session_id=x", "evil.example") == 421
    assert post(f"{served.base}/messages/?session_id=x", local, "http://evil.example") == 403
    assert get(f"{served.base}/healthz", local) == 200


@pytest.mark.req("REQ-MCP-023")
def test_host_variants_are_compared_exactly_case_insensitively(serve):
    served = serve("streamable-http", "--allow-host", "qms.internal")
    port = served.port
    mcp, health = f"{served.base}/mcp", f"{served.base}/healthz"
    for host in (f"LOCALHOST:{port}", "LocalHost", f"Host.Docker.Internal:{port}",
                 f"QMS.INTERNAL:{port}", "127.0.0.1:1", f"[::1]:{port}"):
        assert post(mcp, host) == 200, host
        assert get(health, host) == 200, host
    for host in (f"127.0.0.1:80@evil.com", f"localhost:{port}@evil.com", f"127.0.0.1:{port}/x",
                 "127.0.0.1:", "127.0.0.1:99999", f"localhost.:{port}", f"evil@localhost:{port}",
                 f"localhost:{port}:1", "localhost.evil.com", "[::1]evil"):
        assert post(mcp, host) == 421, host
        assert get(health, host) == 421, host
    good = f"localhost:{port}"
    for origin in (f"HTTP://LOCALHOST:{port}", "https://Host.Docker.Internal"):
        assert post(mcp, good, origin) == 200, origin
    for origin in (f"http://localhost:{port}@evil.com", "http://127.0.0.1:80@evil.com",
                   f"http://localhost:{port}/path", "file://localhost"):
        assert post(mcp, good, origin) == 403, origin
