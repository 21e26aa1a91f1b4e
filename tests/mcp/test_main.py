"""The `qms-mcp` command: startup errors, project root resolution, a clean stdout in stdio
mode, the benchmark-only tool, and the background daemon (start/status/stop, /healthz)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import anyio
import pytest

from _mcp_support import EXPOSED, QMS_CLI, QMS_MCP, free_port, http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def qms_mcp(*args: str, cwd=None, env=None, timeout: float = 40) -> subprocess.CompletedProcess:
    return subprocess.run([QMS_MCP, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


@pytest.mark.req("REQ-MCP-011")
@pytest.mark.req("REQ-MCP-012")
def test_clear_startup_errors(project, tmp_path):
    missing = qms_mcp("--transport", "streamable-http", "--port", str(free_port()),
                      "--project-root", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and missing.stdout == ""
    assert "qms-mcp: error: No QMS project" in missing.stderr

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = qms_mcp("--transport", "sse", "--port", str(port), "--project-root", str(project))
    assert busy.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in busy.stderr

    bad = qms_mcp("--transport", "carrier-pigeon")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


@pytest.mark.req("REQ-MCP-011")
def test_stdio_stdout_carries_only_protocol(project, tmp_path):
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "qms_create",
                    "arguments": {"user": "claude", "doc_type": "CR", "title": "T"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "qms_status", "arguments": {"user": "nobody", "doc_id": "CR-001"}}},
    ]
    # the project comes from QMS_PROJECT_ROOT; cwd is elsewhere
    proc = subprocess.Popen([QMS_MCP, "--transport", "stdio"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "QMS_PROJECT_ROOT": str(project)})
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        lines = [proc.stdout.readline() for _ in range(3)]
        replies = sorted((json.loads(line) for line in lines), key=lambda r: r["id"])
        proc.stdin.close()
        assert proc.stdout.read() == ""  # nothing else, ever
        stderr = proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    assert replies[1]["result"]["structuredContent"]["result"]["doc_id"] == "CR-001"
    assert replies[2]["result"]["isError"] is True
    assert "serving" in stderr  # logs went to stderr


def _bearer(root) -> dict[str, str]:
    """The header of a fresh token of lead (issued with the real CLI)."""
    run = subprocess.run([QMS_CLI, "--json", "--user", "lead", "token", "issue", "lead"],
                         cwd=root, capture_output=True, text=True, timeout=60)
    return {"Authorization": f"Bearer {json.loads(run.stdout)['result']['token']}"}


@pytest.mark.req("REQ-MCP-013")
def test_project_root_flag_wins_over_env(serve, project, tmp_path):
    served = serve("streamable-http", env={"QMS_PROJECT_ROOT": str(tmp_path / "elsewhere")})
    health = http(f"{served.base}/healthz", _bearer(project))[1]  # details need a token
    assert json.loads(health)["project"] == str(project)


def test_noop_tool_only_when_asked(serve):
    served = serve("streamable-http", env={"QMS_MCP_BENCH_NOOP": "1"})

    async def names() -> set[str]:
        async with served.client() as client:
            return {t.name for t in (await client.list_tools()).tools}

    assert anyio.run(names) == EXPOSED | {"qms_noop"}


@pytest.mark.req("REQ-MCP-017")
def test_background_daemon(project):
    port = str(free_port())
    pid_file = project / ".qms" / "mcp.pid"
    root = ["--project-root", str(project)]
    try:
        started = qms_mcp("start", "--background", "--port", port, *root)
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}/mcp"
        assert url in started.stdout
        assert f"claude mcp add --transport http qms {url}" in started.stdout
        state = json.loads(pid_file.read_text())
        assert (project / ".qms" / "mcp.log").exists()

        status, health = http(f"http://127.0.0.1:{port}/healthz", _bearer(project))
        assert status == 200 and json.loads(health)["pid"] == state["pid"]
        running = qms_mcp("status", *root)
        assert running.returncode == 0 and url in running.stdout and "health: ok" in running.stdout

        again = qms_mcp("start", "--background", "--port", str(free_port()), *root)
        assert again.returncode == 1 and "already running" in again.stderr

        stopped = qms_mcp("stop", *root)
        assert stopped.returncode == 0 and not pid_file.exists()
        assert qms_mcp("status", *root).returncode == 1
    finally:
        if pid_file.exists():
            os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGKILL)


@pytest.mark.req("REQ-MCP-017")
def test_background_refuses_taken_port(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = qms_mcp("start", "--background", "--port", str(port),
                          "--project-root", str(project))
    assert refused.returncode == 1 and "already in use" in refused.stderr
    assert not (project / ".qms" / "mcp.pid").exists()


@pytest.mark.req("REQ-MCP-016")
@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_identity_ttl_must_be_positive(ttl, capsys):
    from qms.server.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["--identity-ttl", ttl])
    assert exit_.value.code == 2 and "--identity-ttl must be > 0" in capsys.readouterr().err
