"""`qms-mcp-proxy`: a stdio MCP server that bridges every message to a streamable-http server.

Agents in containers start it from `.mcp.json`; it stamps who they are (`X-QMS-Identity`
from `QMS_USER`, a per-process `X-QMS-Instance`, `Authorization` from `QMS_TOKEN_FILE` or `QMS_TOKEN`) on every
HTTP request. It never re-sends a call that may have reached the server.
"""
