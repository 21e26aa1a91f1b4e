"""The MCP adapter: every qms command as an MCP tool (``tools``), calling ``qms.operations``
in-process; who a call acts as (``identity``, ``auth``), Host/Origin checks (``security``)
and error hints (``hints``). Served by ``qms.server`` (`qms-mcp`)."""
