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
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}",
                 f"host.docker.internal:{port}", f"qms.internal:{port}"):
        assert post(mcp, host) == 200, host
        assert get(health, host) == 200, host
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}",
                 # the right name, the wrong port (or none: 80): not this server
                 "127.0.0.1", "localhost", "host.docker.internal", "qms.internal",
                 f"localhost:{port + 1}", f"127.0.0.1:{port - 1}", "localhost:80"):
        assert post(mcp, host) == 421, host
        assert get(health, host) == 421, host
    good = f"127.0.0.1:{port}"
    for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}",
                   f"http://host.docker.internal:{port}", f"https://qms.internal:{port}"):
        assert post(mcp, good, origin) == 200, origin
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null",
                   # another web app on this machine: another port is another origin
                   "http://localhost:3000", f"http://localhost:{port + 1}", "http://127.0.0.1",
                   "http://host.docker.internal:3000", "https://localhost"):
        assert post(mcp, good, origin) == 403, origin
        assert get(health, good, origin) == 403, origin


@pytest.mark.req("REQ-MCP-024")
def test_an_allowed_host_with_its_own_port_is_taken_as_given(serve):
    """Behind a TLS proxy (`--allow-host NAME:443`) the Host and Origin name port 443 (or
    none, the default), not the bound port."""
    served = serve("streamable-http", "--allow-host", "qms.example:443")
    mcp, port = f"{served.base}/mcp", served.port
    for host in ("qms.example", "qms.example:443"):
        assert post(mcp, host) == 200, host
        assert post(mcp, host, "https://qms.example") == 200, host
    assert post(mcp, f"qms.example:{port}") == 421
    assert post(mcp, "qms.example", "http://qms.example") == 403  # http: port 80
    assert post(mcp, "qms.example", "https://qms.example:8443") == 403


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
    for host in (f"LOCALHOST:{port}", f"LocalHost:{port}", f"Host.Docker.Internal:{port}",
                 f"QMS.INTERNAL:{port}", f"[::1]:{port}"):
        assert post(mcp, host) == 200, host
        assert get(health, host) == 200, host
    for host in (f"127.0.0.1:80@evil.com", f"localhost:{port}@evil.com", f"127.0.0.1:{port}/x",
                 "127.0.0.1:", "127.0.0.1:99999", f"localhost.:{port}", f"evil@localhost:{port}",
                 f"localhost:{port}:1", "localhost.evil.com", "[::1]evil", "127.0.0.1:1"):
        assert post(mcp, host) == 421, host
        assert get(health, host) == 421, host
    good = f"localhost:{port}"
    for origin in (f"HTTP://LOCALHOST:{port}", f"https://Host.Docker.Internal:{port}"):
        assert post(mcp, good, origin) == 200, origin
    for origin in (f"http://localhost:{port}@evil.com", "http://127.0.0.1:80@evil.com",
                   f"http://localhost:{port}/path", "file://localhost",
                   "https://Host.Docker.Internal"):
        assert post(mcp, good, origin) == 403, origin
