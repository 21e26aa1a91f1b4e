"""Git over HTTP through a real `qms-mcp` process: clone, push through the gate as the bearer
token's user, forged identities, the dashboard's Code card and the MCP code-area tool."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from _code_support import (_load, commit, events, git, push, rev, scoped_cr, write)
from qms import operations as ops
from qms.store.project import Project

_mcp = _load("_qms_tests_mcp_conftest", Path(__file__).parents[1] / "mcp" / "conftest.py")
pytestmark = pytest.mark.slow


@pytest.fixture
def served(gov):
    started = []

    def serve(*extra: str):
        server = _mcp.start_server(gov, "streamable-http", *extra)
        started.append(server)
        return server

    yield serve
    for server in started:
        _mcp.stop_server(server)


def tokens(gov: Path) -> dict[str, str]:
    p = Project.open(gov)
    return {u: ops.token_issue(p, "lead", name=u).token for u in ("claude", "ini")}


def clone(base: Path, url: str, token: str | None, name: str = "clone"):
    target = base / name
    header = ["-c", f"http.extraHeader=Authorization: Bearer {token}"] if token else []
    proc = git(base, *header, "clone", "-q", "-b", "cr/CR-001", url, str(target), check=False)
    if proc.returncode == 0 and token:
        git(target, "config", "http.extraHeader", f"Authorization: Bearer {token}")
    return target, proc


@pytest.mark.req("REQ-CODE-011", "REQ-CODE-009", "REQ-CODE-008")
def test_clone_and_push_over_http_as_the_tokens_user(gov, served, tmp_path):
    keys = tokens(gov)
    doc_id = scoped_cr(gov)
    server = served("--auth", "required")
    url = f"{server.base}/git/"
    target, proc = clone(tmp_path, url, keys["claude"])
    assert proc.returncode == 0, proc.stderr.decode()
    write(target, "src/app/auth/login.py", "over http\n")
    sha = commit(target, f"Login\n\nQMS-CR: {doc_id}")
    result = push(target, "origin", "cr/CR-001", "-o", "qms-user=ini")  # options do not count
    assert result.returncode == 0, result.stderr.decode()
    assert rev(gov, "refs/heads/cr/CR-001") == sha
    [event] = events(gov, doc_id, "CODE_PUSH")
    assert event["user"] == "claude" and event["via"] == "http"
    assert list((gov / ".qms" / "tickets").iterdir()) == []  # every ticket used or discarded
    # the same push with ini's token: the token decides, whatever the push says
    git(target, "config", "http.extraHeader", f"Authorization: Bearer {keys['ini']}")
    write(target, "src/app/auth/login.py", "by ini\n")
    commit(target, f"x\n\nQMS-CR: {doc_id}")
    result = push(target, "origin", "cr/CR-001", "-o", "qms-user=claude", QMS_USER="claude")
    assert result.returncode != 0 and b"you are ini" in result.stderr
    assert rev(gov, "refs/heads/cr/CR-001") == sha and len(events(gov, doc_id, "CODE_PUSH")) == 1


@pytest.mark.req("REQ-CODE-011")
def test_http_needs_valid_tokens(gov, served, tmp_path):
    keys = tokens(gov)
    scoped_cr(gov)
    server = served("--auth", "required")
    url = f"{server.base}/git/"
    target, proc = clone(tmp_path, url, None, "anonymous")
    # 401: git asks for credentials it does not have
    assert proc.returncode != 0 and (b"401" in proc.stderr or b"Username" in proc.stderr)
    assert not target.exists()
    _, proc = clone(tmp_path, url, "not-a-token", "forged")
    assert proc.returncode != 0
    ops.token_revoke(Project.open(gov), "lead",
                     token_id=ops.token_list(Project.open(gov), "lead").tokens[-1]["token_id"])
    _, proc = clone(tmp_path, url, keys["ini"], "revoked")
    assert proc.returncode != 0


@pytest.mark.req("REQ-CODE-011", "REQ-CODE-009")
def test_without_auth_fetch_works_but_push_needs_a_token(gov, served, tmp_path):
    doc_id = scoped_cr(gov)
    server = served("--auth", "off")
    target, proc = clone(tmp_path, f"{server.base}/git/", None)
    assert proc.returncode == 0, proc.stderr.decode()
    write(target, "src/app/auth/login.py", "anonymous\n")
    commit(target, f"x\n\nQMS-CR: {doc_id}")
    result = push(target, "origin", "cr/CR-001", "-o", "qms-user=claude", QMS_USER="claude")
    assert result.returncode != 0 and b"403" in result.stderr
    assert events(gov, doc_id, "CODE_PUSH") == []


@pytest.mark.req("REQ-CODE-009")
def test_a_local_pusher_cannot_pose_as_an_http_push(gov, tmp_path):
    """REMOTE_USER and a made-up ticket in a local pusher's environment: the gate ignores the
    first and refuses the second."""
    doc_id = scoped_cr(gov)
    target = tmp_path / "local"
    git(tmp_path, "clone", "-q", "-b", "cr/CR-001", str(gov), str(target))
    write(target, "src/app/auth/login.py", "local\n")
    commit(target, f"x\n\nQMS-CR: {doc_id}")
    result = push(target, "origin", "cr/CR-001", REMOTE_USER="claude")
    assert result.returncode != 0 and b"[identity]" in result.stderr
    result = push(target, "origin", "cr/CR-001", REMOTE_USER="claude",
                  QMS_PUSH_TICKET="guessed-ticket")
    assert result.returncode != 0 and b"HTTP ticket is not valid" in result.stderr
    assert events(gov, doc_id, "CODE_PUSH") == []


@pytest.mark.req("REQ-CODE-009")
def test_local_push_needs_the_token_when_auth_cli_is_required(gov, tmp_path):
    p = Project.open(gov)
    secret = ops.token_issue(p, "lead", name="claude").token
    lead = ops.token_issue(p, "lead", name="lead").token
    os.environ["QMS_TOKEN"] = lead
    try:
        ops.config_set(p, "lead", key="auth.cli", value="required")
    finally:
        del os.environ["QMS_TOKEN"]
    doc_id = scoped_cr(gov)
    a = Path(ops.code_checkout(p, "claude", doc_id=doc_id).path)
    write(a, "src/app/auth/login.py", "needs a token\n")
    commit(a)
    result = push(a)
    assert result.returncode != 0 and b"requires CLI authentication" in result.stderr
    result = push(a, QMS_TOKEN=lead)
    assert result.returncode != 0 and b"Identity mismatch" in result.stderr
    token_file = tmp_path / "claude.token"
    token_file.write_text(secret + "\n")
    # an -o on the command line replaces the configured push options: name the user again
    result = push(a, "-o", "qms-user=claude", "-o", f"qms-token-file={token_file}")
    assert result.returncode == 0, result.stderr.decode()
    assert events(gov, doc_id, "CODE_PUSH")[0]["user"] == "claude"


@pytest.mark.req("REQ-CODE-012")
def test_dashboard_shows_scope_branch_and_pushes(gov, served, tmp_path):
    doc_id = scoped_cr(gov)
    a = Path(ops.code_checkout(Project.open(gov), "claude", doc_id=doc_id).path)
    write(a, "src/app/auth/login.py", "shown\n")
    sha = commit(a)
    assert push(a).returncode == 0
    server = served("--auth", "off")
    status, body = _mcp.http(f"{server.base}/documents/{doc_id}")
    page = body.decode()
    assert status == 200
    assert "cr/CR-001" in page and "src/app/auth/**" in page and "src/app/auth/keys.py" in page
    assert sha[:8] in page and "src/app/auth/login.py" in page and "in scope" in page


@pytest.mark.req("REQ-CODE-005")
def test_code_checkout_over_mcp(gov, served):
    keys = tokens(gov)
    doc_id = scoped_cr(gov)
    server = served("--auth", "required")

    async def main():
        async with server.client({"Authorization": f"Bearer {keys['claude']}"}) as client:
            result = await client.call_tool("qms_code_checkout", {"user": "claude",
                                                                  "doc_id": doc_id})
            assert not result.is_error, result.content[0].text
            return result.structured_content["result"]["path"]

    path = anyio.run(main)
    assert Path(path) == gov / ".qms-work" / "claude" / doc_id and (Path(path) / ".git").is_dir()
