"""Host/Origin allow-lists (DNS-rebinding and cross-site protection), on for every bind address.

The SDK only protects loopback binds by default and matches by string prefix (so
``127.0.0.1:80@evil.com`` would pass while ``LOCALHOST`` would not). We parse each header
strictly (``name[:port]``, ``[v6][:port]``; an Origin is ``http(s)://`` plus that) and compare
name *and port* exactly, the name case-insensitively. The port must be the one the server is
bound to: another web app on this machine (an agent's dev server on another port) is another
origin, so ``Origin: http://localhost:3000`` does not pass a server on 8000. A missing port is
the scheme's default (an Origin: 80 for http, 443 for https; a Host, which carries no scheme:
80 or 443), so it passes only where a name was allowed with that port (``--allow-host
NAME:443`` behind a TLS proxy). One middleware in front of every route (`/healthz`, the web
pages included) does it, so a refused request never reaches a transport: a foreign or
malformed Host gets 421, a foreign Origin 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "[::1]", "host.docker.internal")
DEFAULT_PORTS = {"http": (80,), "https": (443,), None: (80, 443)}  # None: a Host header
_HOST_RE = re.compile(
    r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?))"
    r"(?::(?P<port>[0-9]{1,5}))?\Z", re.IGNORECASE)
_ORIGIN_RE = re.compile(r"(?P<scheme>https?)://(?P<host>[^/?#@]+)\Z", re.IGNORECASE)

Endpoint = tuple[str, int]  # (lower-case name, port)

# the SDK transports' own (prefix-matching) check is off: HostOriginGuard does it, exactly
TRANSPORT_SETTINGS = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def allowed_hosts(port: int, extra: Iterable[str] = ()) -> frozenset[Endpoint]:
    """Every allowed (name, port): the default names and each ``--allow-host NAME`` at the
    bound ``port``; ``NAME:PORT`` at the port given (a reverse proxy or a port forward)."""
    allowed = set()
    for value in (*DEFAULT_HOSTS, *extra):
        parsed = parse_host(value)
        name, given = parsed if parsed else (value.lower(), None)
        allowed.add((name, given or port))
    return frozenset(allowed)


def parse_host(value: str | None) -> tuple[str, int | None] | None:
    """(lower-case name, port or None) of a Host header value, or None if it is not
    ``name[:port]`` with a port from 1 to 65535."""
    match = _HOST_RE.match(value or "")
    if match is None:
        return None
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    v6 = match.group("v6")
    return (f"[{v6.lower()}]" if v6 else match.group("name").lower(),
            int(port) if port is not None else None)


def host_name(value: str | None) -> str | None:
    """The lower-case name of a Host header value, or None if it is not ``name[:port]``."""
    parsed = parse_host(value)
    return parsed[0] if parsed else None


def parse_origin(value: str) -> tuple[str, str, int | None] | None:
    """(scheme, name, port or None) of an ``http(s)://name[:port]`` Origin, or None."""
    match = _ORIGIN_RE.match(value)
    parsed = parse_host(match.group("host")) if match else None
    return (match.group("scheme").lower(), *parsed) if parsed else None


def origin_name(value: str) -> str | None:
    """The host name of an ``http(s)://name[:port]`` Origin, or None."""
    parsed = parse_origin(value)
    return parsed[1] if parsed else None


def admits(allowed: frozenset[Endpoint], name: str, port: int | None,
           scheme: str | None = None) -> bool:
    """Whether ``name[:port]`` (a missing port: the default of ``scheme``) is allowed."""
    ports = (port,) if port is not None else DEFAULT_PORTS[scheme]
    return any((name, p) in allowed for p in ports)


class HostOriginGuard:
    """ASGI middleware: the exact Host/Origin check in front of every route."""

    def __init__(self, app: ASGIApp, allowed: frozenset[Endpoint]) -> None:
        self.app = app
        self.allowed = allowed

    def refusal(self, headers: Headers) -> Response | None:
        host = parse_host(headers.get("host"))
        if host is None or not admits(self.allowed, *host):
            return Response("Invalid Host header", status_code=421)
        origin = headers.get("origin")
        if origin:
            parsed = parse_origin(origin)
            if parsed is None or not admits(self.allowed, parsed[1], parsed[2], parsed[0]):
                return Response("Invalid Origin header", status_code=403)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.refusal(Headers(scope=scope)) if scope["type"] == "http" else None
        await (refused or self.app)(scope, receive, send)
