"""The authority's HTTP application: ``/mcp`` (or ``/sse``), the dashboard, ``/healthz``;
the listening socket and the uvicorn loop. The one place the adapters are put together."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Iterable

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from qms import __version__
from qms.errors import Conflict
from qms.mcp.auth import AuthMode, BearerGate, bearer_valid
from qms.mcp.security import TRANSPORT_SETTINGS, HostOriginGuard, allowed_hosts
from qms.mcp.server import Transport
from qms.operations.mcp_config import WILDCARDS
from qms.store.project import Project


def http_app(
    server: MCPServer, transport: Transport, allow_hosts: Iterable[str] = (), project: str = "",
    auth: AuthMode = AuthMode.OFF,
    web: Project | None = None, *, port: int,
) -> Starlette:
    """The ASGI app: `/mcp` (streamable-http) or `/sse` + `/messages/` (sse), plus `/healthz`,
    plus the read-only web pages of `web` (docs/web.md) when given, plus the project's git
    repository at `/git/` (docs/code-control.md).

    Host/Origin checks are always on, whatever address the server is bound to, and must name
    `port`, the port it is bound to; they run in front of the bearer-token gate (`auth`;
    `/healthz` stays open, but says more than "ok" only to a valid token). `/mcp` is
    stateless with plain JSON replies: any client (or a proxy posting one message at a time)
    works without session bookkeeping, and no reply pays for an SSE stream.
    """
    security = TRANSPORT_SETTINGS  # the transports' own Host check is off: the guard does it
    tokens_of = Project.open(project) if project else None

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        """Liveness for anyone; what runs where (project path, pid) only for a valid token."""
        if tokens_of is None or not await bearer_valid(request, tokens_of):
            return JSONResponse({"status": "ok"})
        return JSONResponse(
            {"status": "ok", "server": "qms-mcp", "version": __version__, "transport": transport,
             "project": project, "pid": os.getpid()}
        )

    if transport == "sse":
        app = server.sse_app(transport_security=security)
    else:
        app = server.streamable_http_app(
            transport_security=security, stateless_http=True, json_response=True
        )
    if web is not None:
        from qms.web.app import mount  # Jinja2 and markdown-it load only when pages are served

        mount(app, web, auth)
    if tokens_of is not None:
        from qms.web.git_http import mount as mount_git  # the repository at /git/

        mount_git(app, tokens_of, auth)
    if auth is not AuthMode.OFF:
        app.add_middleware(BearerGate, project=tokens_of, mode=auth, pages=web is not None)
    app.add_middleware(HostOriginGuard, allowed=allowed_hosts(port, allow_hosts))  # outermost
    return app


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket up front, so 'port in use' is a clear startup error.

    `IPPROTO_TCP` matters: asyncio only sets TCP_NODELAY on accepted sockets whose protocol
    says TCP; without it Nagle + delayed ACK add ~40 ms to every response."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(
                f"port {port} on {host} is already in use (another qms-mcp? try `qms-mcp status`)",
                host=host, port=port,
            ) from exc
        raise Conflict(f"cannot listen on {host}:{port}: {exc.strerror}",
                       host=host, port=port) from exc
    return sock


def served_hosts(host: str, allow_hosts: Iterable[str] = ()) -> list[str]:
    """Extra Host names to accept: `allow_hosts` plus the bound address (unless a wildcard),
    an IPv6 address in brackets as it appears in a Host header, given with or without them."""
    if host in WILDCARDS:
        return list(allow_hosts)
    address = host.strip("[]")
    return [*allow_hosts, f"[{address}]" if ":" in address else address]


def run(server: MCPServer, transport: Transport, host: str, port: int,
        allow_hosts: Iterable[str] = (), project: str = "", auth: AuthMode = AuthMode.OFF,
        web: Project | None = None) -> None:
    """Serve until interrupted. stdio writes nothing but protocol messages to stdout."""
    if transport == "stdio":
        anyio.run(server.run_stdio_async)
        return
    sock = bind(host, port)
    config = uvicorn.Config(
        http_app(server, transport, served_hosts(host, allow_hosts), project, auth, web,
                 port=sock.getsockname()[1]),
        log_config=None,
        access_log=False, timeout_graceful_shutdown=3,
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
