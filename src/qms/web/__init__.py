"""The read-only web pages served by `qms-mcp` next to /mcp (docs/web.md)."""
