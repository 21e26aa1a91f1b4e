"""Host/Origin allow-lists (DNS-rebinding protection), on for every bind address.

The SDK only protects loopback binds by default and matches by string prefix (so
``127.0.0.1:80@evil.com`` would pass while ``LOCALHOST`` would not). We parse each header
strictly (``name[:port]``, ``[v6][:port]``; an Origin is ``http(s)://`` plus that) and compare
the name exactly, case-insensitively; a port, when present, must be a number from 1 to 65535
(any port: a container or a browser app may reach us through another one). One middleware
in front of every route (`/healthz` included) does it, so a refused request never reaches a
transport: a foreign or malformed Host gets 421, a foreign Origin 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "[::1]", "host.docker.internal")
_HOST_RE = re.compile(
    r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?))"
    r"(?::(?P<port>[0-9]{1,5}))?\Z", re.IGNORECASE)
_ORIGIN_RE = re.compile(r"(?P<scheme>https?)://(?P<host>[^/?#@]+)\Z", re.IGNORECASE)

# the SDK transports' own (prefix-matching) check is off: HostOriginGuard does it, exactly
TRANSPORT_SETTINGS = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def allowed_hosts(extra: Iterable[str] = ()) -> frozenset[str]:
    """Every allowed host name, lower-case (IPv6 addresses in brackets; a port given with a
    name is dropped: any port is accepted)."""
    return frozenset(host_name(name) or name.lower() for name in (*DEFAULT_HOSTS, *extra))


def host_name(value: str | None) -> str | None:
    """The lower-case name of a Host header value, or None if it is not ``name[:port]``."""
    match = _HOST_RE.match(value or "")
    if match is None:
        return None
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    v6 = match.group("v6")
    return f"[{v6.lower()}]" if v6 else match.group("name").lower()


def origin_name(value: str) -> str | None:
    """The host name of an ``http(s)://name[:port]`` Origin, or None."""
    match = _ORIGIN_RE.match(value)
    return host_name(match.group("host")) if match else None


class HostOriginGuard:
    """ASGI middleware: the exact Host/Origin check in front of every route."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    def refusal(self, headers: Headers) -> Response | None:
        if host_name(headers.get("host")) not in self.allowed:
            return Response("Invalid Host header", status_code=421)
        origin = headers.get("origin")
        if origin and origin_name(origin) not in self.allowed:
            return Response("Invalid Origin header", status_code=403)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.refusal(Headers(scope=scope)) if scope["type"] == "http" else None
        await (refused or self.app)(scope, receive, send)
