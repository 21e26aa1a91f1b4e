"""Units: `qms.operations.mcp_config` snippets, the Claude Code command, Host/Origin allow-lists, tool set."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _mcp_support import EXPOSED
from qms import operations
from qms.operations.mcp_config import (
    claude_add_command, endpoint_url, http_config, mcp_config, stdio_config)
from qms.mcp.security import allowed_hosts, host_name, origin_name


@pytest.mark.req("REQ-MCP-018")
def test_config_is_importable_without_the_sdk():
    code = "import sys, qms.operations.mcp_config; sys.exit('mcp' in sys.modules or 'pydantic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.req("REQ-MCP-018")
def test_snippets(tmp_path):
    url = endpoint_url("0.0.0.0", 8123)
    assert url == "http://127.0.0.1:8123/mcp"
    assert endpoint_url("::1", 80) == "http://[::1]:80/mcp"
    assert http_config(url) == {"mcpServers": {"qms": {"type": "http", "url": url}}}
    stdio = stdio_config(tmp_path)["mcpServers"]["qms"]
    assert stdio["args"] == ["--transport", "stdio", "--project-root", str(tmp_path.resolve())]
    assert claude_add_command(url) == f"claude mcp add --transport http qms {url}"
    text, notes = mcp_config(tmp_path)
    assert json.loads(text) == http_config("http://127.0.0.1:8000/mcp")  # a valid .mcp.json
    assert "headersHelper" in notes and "--stdio" in notes  # how to send a token; fallback
    helper = json.loads(notes.split('"headersHelper": ', 1)[1].splitlines()[0])
    token = tmp_path / "qa.token"
    token.write_text("qms_secret\n")
    printed = subprocess.run(["sh", "-c", helper.replace("/path/to/USER.token", str(token))],
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(printed) == {"Authorization": "Bearer qms_secret"}
    text, notes = mcp_config(tmp_path, stdio=True)
    assert json.loads(text) == stdio_config(tmp_path)


@pytest.mark.req("REQ-MCP-014")
def test_allow_lists_cover_defaults_at_the_bound_port():
    hosts = allowed_hosts(8123, ["qms.internal", "QMS.Other", "named.host:443"])
    for name in ("localhost", "127.0.0.1", "[::1]", "host.docker.internal", "qms.internal",
                 "qms.other"):
        assert (name, 8123) in hosts and (name, 8000) not in hosts
    assert ("named.host", 443) in hosts and ("named.host", 8123) not in hosts


@pytest.mark.req("REQ-MCP-023")
@pytest.mark.parametrize("value, name", [
    ("localhost", "localhost"), ("LOCALHOST:8000", "localhost"), ("127.0.0.1:1", "127.0.0.1"),
    ("[::1]:8000", "[::1]"), ("[::1]", "[::1]"), ("Host.Docker.Internal", "host.docker.internal"),
    ("127.0.0.1:80@evil.com", None), ("127.0.0.1:80/x", None), ("127.0.0.1:", None),
    ("127.0.0.1:0", None), ("127.0.0.1:65536", None), ("127.0.0.1:8000:1", None),
    ("localhost.", None), ("user@localhost", None), ("", None), (None, None), ("::1", None),
    ("127.0.0.1 ", None), ("127.0.0.1.evil.example", "127.0.0.1.evil.example"),
])
def test_host_header_is_parsed_exactly(value, name):
    assert host_name(value) == name


@pytest.mark.req("REQ-MCP-023")
@pytest.mark.parametrize("value, name", [
    ("http://localhost:3000", "localhost"), ("HTTPS://LOCALHOST", "localhost"),
    ("http://127.0.0.1:80@evil.com", None), ("http://localhost/", None), ("null", None),
    ("ftp://localhost", None), ("http://evil.example", "evil.example"),
])
def test_origin_is_parsed_exactly(value, name):
    assert origin_name(value) == name


@pytest.mark.req("REQ-MCP-010")
def test_tool_set_is_the_operations_contract():
    assert EXPOSED == {f"qms_{name}" for name in operations.TOOLS}
    assert not {"qms_init", "qms_user", "qms_namespace", "qms_migrate"} & EXPOSED


@pytest.mark.req("REQ-MCP-014")
def test_the_bound_address_is_a_served_host_name():
    from qms.server.app import served_hosts

    assert served_hosts("0.0.0.0", ["qms.internal"]) == ["qms.internal"]
    assert served_hosts("10.0.0.5") == ["10.0.0.5"]
    assert served_hosts("fe80::1") == served_hosts("[fe80::1]") == ["[fe80::1]"]  # never [[...]]


@pytest.mark.req("REQ-MCP-018")
def test_mcp_config_points_at_the_running_background_server(tmp_path, monkeypatch):
    from qms.store import pidfile as state

    record = json.dumps({"pid": 4242, "url": "http://127.0.0.1:8123/mcp"})
    (tmp_path / ".qms").mkdir()
    state.pid_path(tmp_path).write_text(record)
    monkeypatch.setattr(state, "alive", lambda pid: True)
    assert "http://127.0.0.1:8123/mcp" in mcp_config(tmp_path)[0]
    monkeypatch.setattr(state, "alive", lambda pid: False)  # stale record: ignored, removed
    assert "http://127.0.0.1:8000/mcp" in mcp_config(tmp_path)[0]
    assert not state.pid_path(tmp_path).exists()
