"""`qms-mcp`: the single-authority MCP server. Tools call ``qms.operations`` in-process.

``qms.mcp.config`` is importable without the MCP SDK (the CLI uses it); every other
module here needs the SDK.
"""
