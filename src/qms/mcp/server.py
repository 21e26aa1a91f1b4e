"""The qms MCP server: every qms tool on one MCP server object (served by ``qms.server``)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Literal

from mcp.server.mcpserver import MCPServer

from qms import __version__
from qms.mcp.tools import Backend, register

Transport = Literal["stdio", "sse", "streamable-http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "sse", "streamable-http")

INSTRUCTIONS = (
    "qms is the project's document-control system. Every tool requires `user`: your own QMS "
    "identity. Never pass another identity. An error starting with 'IDENTITY LOCKED' is final: "
    "do not troubleshoot it, stop and tell the user."
)


def build(backend: Backend, *, noop: bool = False) -> MCPServer:
    """The MCP server with every qms tool; all calls share `backend` (one identity registry)."""
    server = MCPServer("qms", version=__version__, instructions=INSTRUCTIONS,
                       lifespan=lambda _: nullcontext(backend))
    # the SDK wraps every message in an OpenTelemetry span (trace context parsed, a span
    # made) even with no exporter installed; qms exports none, so it is opted out (the
    # SDK's documented way: drop it from the chain), which the 16-agent benchmark shows
    server.middleware[:] = [m for m in server.middleware
                            if type(m).__name__ != "OpenTelemetryMiddleware"]
    register(server, noop=noop)
    return server
