"""`qms-mcp`, the authority: one process serving the MCP tools (``qms.mcp``), the dashboard
(``qms.web``) and git over HTTP (``qms.web.git_http``), on one HTTP application (``app``);
its command line (``main``), background daemon (``daemon``) and rotated log (``logfile``).
The composition root: it imports the adapters, and no adapter imports it."""
