"""Client configuration for `qms-mcp` (`.mcp.json` snippets, the Claude Code command).

Importable without the MCP SDK: the `qms` CLI (`qms mcp-config`) uses it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def base_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The URL a local client uses to reach a server bound to host:port (wildcard -> 127.0.0.1)."""
    shown = "127.0.0.1" if host in WILDCARDS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def endpoint_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The streamable-http endpoint."""
    return f"{base_url(host, port)}/mcp"


def claude_add_command(url: str) -> str:
    """The one command that connects Claude Code to the running server."""
    return f"claude mcp add --transport http qms {url}"


def http_config(url: str) -> dict:
    """`.mcp.json` for the single-authority HTTP server (recommended)."""
    return {"mcpServers": {"qms": {"type": "http", "url": url}}}


def _qms_mcp_command() -> str:
    """`qms-mcp` of this installation (absolute, so the client needs no PATH setup)."""
    sibling = Path(sys.executable).with_name("qms-mcp")
    return str(sibling) if sibling.exists() else shutil.which("qms-mcp") or "qms-mcp"


def stdio_config(project_root: str | Path) -> dict:
    """`.mcp.json` for a private stdio server (fallback when the HTTP server cannot run)."""
    command = _qms_mcp_command()
    args = ["--transport", "stdio", "--project-root", str(Path(project_root).resolve())]
    return {"mcpServers": {"qms": {"type": "stdio", "command": command, "args": args}}}


def headers_helper(token_file: str) -> str:
    """A Claude Code ``headersHelper``: prints the Authorization header read from a token file,
    so the secret is never stored in the client's configuration."""
    return (f"printf '{{\"Authorization\": \"Bearer %s\"}}' \"$(cat {token_file})\"")


def mcp_config(project_root: str | Path, url: str | None = None,
               stdio: bool = False) -> tuple[str, str]:
    """What `qms mcp-config` prints: a valid `.mcp.json` (for stdout) and how to use it (for
    stderr). HTTP by default: the project's running background server, else the default
    address; ``stdio``: the private-server fallback."""
    from qms.store.pidfile import running

    if stdio:
        return (json.dumps(stdio_config(project_root), indent=2),
                "# .mcp.json for a private stdio server (identity locks are not shared with "
                "other clients); save it with: qms mcp-config --stdio > .mcp.json")
    url = url or (running(Path(project_root)) or {}).get("url") or endpoint_url()
    return json.dumps(http_config(url), indent=2), "\n".join([
        "# .mcp.json for the single-authority HTTP server; save it with:",
        "#   qms mcp-config > .mcp.json        (start the server: qms-mcp start --background)",
        f"# or run: {claude_add_command(url)}",
        "# With `qms-mcp --auth required`, add a headersHelper to the entry: it reads your",
        "# token (an administrator issues it: qms --user lead token issue USER) from a file:",
        f"#   \"headersHelper\": {json.dumps(headers_helper('/path/to/USER.token'))}",
        "# A private stdio server instead: qms mcp-config --stdio",
    ])
