"""Per-message HTTP headers the streamable-http wire needs but a stdio message does not carry.

The SDK's own client session computes these when it sends; a bridged message arrives from
stdio without them, so the proxy derives them from the message body in the same way:
`MCP-Protocol-Version` (negotiated by `initialize`, or the 2026 per-request envelope) and,
for envelope requests, `Mcp-Method`, `Mcp-Name` and a listed tool's `Mcp-Param-*` headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp_types import PROTOCOL_VERSION_META_KEY, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest

from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
    mcp_param_headers,
    x_mcp_header_map,
)

HeaderMap = Mapping[tuple[str, ...], str]


def envelope_version(message: JSONRPCMessage) -> str | None:
    """The protocol version a 2026-style request/notification carries in `params._meta`."""
    if not isinstance(message, JSONRPCRequest | JSONRPCNotification):
        return None
    meta = (message.params or {}).get("_meta")
    version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


def outbound_headers(
    message: JSONRPCMessage, negotiated: str | None, tool_headers: Mapping[str, HeaderMap]
) -> dict[str, str] | None:
    """Headers for forwarding `message` upstream, or None when it needs none."""
    version = envelope_version(message)
    if version is not None:
        assert isinstance(message, JSONRPCRequest | JSONRPCNotification)
        params: dict[str, Any] = message.params or {}
        headers = {MCP_PROTOCOL_VERSION_HEADER: version, MCP_METHOD_HEADER: message.method}
        name_key = NAME_BEARING_METHODS.get(message.method)
        name = params.get(name_key) if name_key else None
        if isinstance(name, str):
            headers[MCP_NAME_HEADER] = encode_header_value(name)
            if message.method == "tools/call" and name in tool_headers:
                headers.update(mcp_param_headers(tool_headers[name], params.get("arguments") or {}))
        return headers
    if negotiated is None or (isinstance(message, JSONRPCRequest) and message.method == "initialize"):
        return None
    return {MCP_PROTOCOL_VERSION_HEADER: negotiated}


def tool_header_maps(tools_list_result: Mapping[str, Any]) -> dict[str, HeaderMap]:
    """`Mcp-Param-*` header maps of the tools in a `tools/list` result (only tools that have any)."""
    maps: dict[str, HeaderMap] = {}
    for tool in tools_list_result.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            header_map = x_mcp_header_map(tool.get("inputSchema"))
            if header_map:
                maps[tool["name"]] = header_map
    return maps
