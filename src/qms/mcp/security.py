"""Host/Origin allow-lists (DNS-rebinding protection), on for every bind address.

The SDK only protects loopback binds by default; we always pass explicit settings, so a
server bound to 0.0.0.0 (for containers) still refuses a foreign Host (421) or Origin (403).
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "[::1]", "host.docker.internal")


def allowed_hosts(extra: Iterable[str] = ()) -> list[str]:
    """Every allowed name, with and without a port (``name`` and ``name:*``)."""
    names = list(dict.fromkeys([*DEFAULT_HOSTS, *extra]))
    return [h for name in names for h in (name, f"{name}:*")]


def transport_security(extra: Iterable[str] = ()) -> TransportSecuritySettings:
    """Settings for the SDK transports: the allowed hosts and their http(s) origins."""
    hosts = allowed_hosts(extra)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for scheme in ("http", "https") for h in hosts],
    )


class HostOriginGuard:
    """ASGI middleware: the same check in front of every route (`/healthz` included), so a
    refused request never reaches a transport (421 bad Host, 403 bad Origin)."""

    def __init__(self, app: ASGIApp, settings: TransportSecuritySettings) -> None:
        self.app = app
        self.check = TransportSecurityMiddleware(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = None
        if scope["type"] == "http":
            refused = await self.check.validate_request(Request(scope))
        await (refused or self.app)(scope, receive, send)
