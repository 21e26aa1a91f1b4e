"""Bearer tokens against real `qms-mcp` processes: tokens issued and revoked with the real CLI,
calls made with the official MCP client and with raw HTTP."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

from _mcp_support import QMS_CLI, QMS_MCP, http, ok, refused
from _mcp_support import body as doc_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
JSON = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
FAKE = "qms_0badf00d_" + "A" * 43


def qms(root: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    run = subprocess.run([QMS_CLI, "--json", *args], cwd=root, capture_output=True, text=True,
                         timeout=60, env=env)
    return json.loads(run.stdout)


def issue(root: Path, user: str, *extra: str) -> str:
    reply = qms(root, "--user", "lead", "token", "issue", user, *extra)
    assert reply["ok"], reply
    return reply["result"]["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ping(served, headers: dict[str, str]) -> tuple[int, bytes, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{served.base}/mcp", data=PING, headers={**JSON, **headers})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def token_id(token: str) -> str:
    return token.split("_")[1]


@pytest.mark.req("REQ-AUTH-003")
@pytest.mark.req("REQ-AUTH-004")
@pytest.mark.req("REQ-AUTH-005")
def test_required_auth_over_streamable_http(serve, project):
    qa, claude = issue(project, "qa"), issue(project, "claude")
    served = serve("streamable-http", "--auth", "required")
    for headers in ({}, bearer(FAKE), bearer("nonsense"), {"Authorization": f"Basic {qa}"},
                    bearer(qa + "x"), bearer(qa[:-1])):
        status, body, reply_headers = ping(served, headers)
        assert status == 401, headers
        assert reply_headers["www-authenticate"].startswith("Bearer"), headers
        assert qa.encode() not in body
    assert ping(served, bearer(qa))[0] == 200
    assert http(f"{served.base}/healthz")[0] == 200  # stays open

    async def scenario() -> None:
        async with served.client(bearer(qa)) as client:
            await ok(client, "qms_inbox", user="qa")
            text = await refused(client, "qms_inbox", user="claude")
            assert "your token identifies you as 'qa'" in text and "user='qa'" in text
        async with served.client({**bearer(qa), "X-QMS-Identity": "claude"}) as client:
            assert "token identifies you as 'qa'" in await refused(client, "qms_inbox", user="qa")
        async with served.client(bearer(claude)) as client:  # claude acting as qa: refused
            doc = (await ok(client, "qms_create", user="claude", doc_type="SOP",
                            title="Mine"))["doc_id"]
            await ok(client, "qms_checkin", user="claude", doc_id=doc, content=doc_text("Mine", "Text"))
            await ok(client, "qms_route", user="claude", doc_id=doc, route_type="review")
            text = await refused(client, "qms_review", user="qa", doc_id=doc,
                                 outcome="recommend", comment="self-approved")
            assert "your token identifies you as 'claude'" in text
        async with served.client({**bearer(claude), "X-QMS-Identity": "qa",
                                  "X-QMS-Instance": "i1"}) as client:
            text = await refused(client, "qms_review", user="qa", doc_id=doc,
                                 outcome="recommend", comment="forged header")
            assert "your token identifies you as 'claude'" in text

    anyio.run(scenario)
    # revoked with the CLI: refused on the very next call, no restart
    assert qms(project, "--user", "lead", "token", "revoke", token_id(qa))["ok"]
    assert ping(served, bearer(qa))[0] == 401
    assert ping(served, bearer(claude))[0] == 200


@pytest.mark.req("REQ-AUTH-005")
def test_expired_token_is_refused_on_the_next_call(serve, project):
    qa = issue(project, "qa", "--expires-days", "1")
    served = serve("streamable-http", "--auth", "required")
    assert ping(served, bearer(qa))[0] == 200
    store = project / ".qms" / "tokens.json"  # let a day pass for this token
    data = json.loads(store.read_text())
    data["tokens"][0]["expires"] = "2000-01-01T00:00:00+00:00"
    store.write_text(json.dumps(data))
    assert ping(served, bearer(qa))[0] == 401
    listed = qms(project, "--user", "lead", "token", "list")["result"]["tokens"]
    assert [t["status"] for t in listed] == ["expired"]


@pytest.mark.req("REQ-AUTH-003")
@pytest.mark.req("REQ-MCP-012")
def test_required_auth_on_sse(serve, project):
    qa = issue(project, "qa")
    served = serve("sse", "--auth", "required")
    status, _ = http(f"{served.base}/sse")
    assert status == 401
    status, _ = http(f"{served.base}/messages/?session_id=00000000000000000000000000000000",
                     JSON, PING)
    assert status == 401

    async def scenario() -> None:
        async with served.client(bearer(qa)) as client:
            await ok(client, "qms_inbox", user="qa")
            assert "token identifies you as 'qa'" in await refused(client, "qms_inbox",
                                                                   user="lead")

    anyio.run(scenario)


@pytest.mark.req("REQ-AUTH-006")
def test_optional_auth_verifies_a_token_when_sent(serve, project):
    qa = issue(project, "qa")
    served = serve("streamable-http")  # loopback default: optional
    assert ping(served, {})[0] == 200
    assert ping(served, bearer(FAKE))[0] == 401
    assert ping(served, bearer(qa))[0] == 200

    async def scenario() -> None:
        async with served.client({}) as client:  # today's trusted caller keeps working
            await ok(client, "qms_inbox", user="claude")
        async with served.client(bearer(qa)) as client:
            assert "token identifies you as 'qa'" in await refused(client, "qms_inbox",
                                                                   user="claude")

    anyio.run(scenario)


@pytest.mark.req("REQ-AUTH-006")
def test_auth_off_ignores_tokens(serve, project):
    served = serve("streamable-http", "--auth", "off")
    assert ping(served, bearer(FAKE))[0] == 200


@pytest.mark.req("REQ-AUTH-007")
@pytest.mark.parametrize("argv", [
    ["--host", "0.0.0.0"], ["--host", "0.0.0.0", "--auth", "optional"],
    ["--host", "::", "--auth", "off"], ["start", "--background", "--host", "0.0.0.0"],
])
def test_non_loopback_bind_without_required_auth_refuses_to_start(project, argv):
    from _mcp_support import free_port

    if argv[0] != "start":
        argv = ["--transport", "streamable-http", *argv]
    run = subprocess.run([QMS_MCP, *argv, "--port", str(free_port()), "--project-root",
                          str(project)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "--auth required" in lines[0] and "--insecure" in lines[0]
    assert not (project / ".qms" / "mcp.pid").exists()


@pytest.mark.req("REQ-AUTH-007")
def test_non_loopback_bind_with_required_auth_or_insecure_starts(serve, project):
    qa = issue(project, "qa")
    served = serve("streamable-http", "--auth", "required", host="0.0.0.0")
    assert ping(served, {})[0] == 401 and ping(served, bearer(qa))[0] == 200
    served = serve("streamable-http", "--insecure", host="0.0.0.0")
    assert ping(served, {})[0] == 200


@pytest.mark.req("REQ-AUTH-009")
def test_stdio_with_required_auth_takes_its_token_from_the_environment(serve, project, tmp_path):
    run = subprocess.run([QMS_MCP, "--transport", "stdio", "--auth", "required",
                          "--project-root", str(project)], capture_output=True, text=True,
                         timeout=30, stdin=subprocess.DEVNULL,
                         env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 2 and "QMS_TOKEN" in run.stderr
    qa = issue(project, "qa")
    secret = tmp_path / "qa.token"
    secret.write_text(qa + "\n")  # a Docker secret file: the trailing newline is ignored
    served = serve("stdio", "--auth", "required", env={"QMS_TOKEN_FILE": str(secret)})

    async def scenario() -> None:
        async with served.client() as client:
            await ok(client, "qms_inbox", user="qa")
            assert "token identifies you as 'qa'" in await refused(client, "qms_inbox",
                                                                   user="lead")
            assert qms(project, "--user", "lead", "token", "revoke", token_id(qa))["ok"]
            assert "not valid" in await refused(client, "qms_inbox", user="qa")

    anyio.run(scenario)


@pytest.mark.req("REQ-AUTH-010")
def test_identity_header_without_instance_works_and_locks(serve, project):
    served = serve("streamable-http")
    inspector = {"X-QMS-Identity": "qa"}  # what the MCP Inspector / claude --header send

    async def scenario() -> None:
        async with served.client(inspector) as client:
            await ok(client, "qms_inbox", user="qa")
            async with served.client({**inspector, "X-QMS-Instance": "other-1"}) as second:
                text = await refused(second, "qms_inbox", user="qa")
                assert text.startswith("IDENTITY LOCKED:") and "header:qa" in text
            async with served.client({}) as trusted:
                assert (await refused(trusted, "qms_inbox", user="qa")).startswith(
                    "IDENTITY LOCKED:")
            await ok(client, "qms_inbox", user="qa")  # the holder keeps working
        async with served.client(inspector) as again:  # a new connection, same header-only
            await ok(again, "qms_inbox", user="qa")

    anyio.run(scenario)


@pytest.mark.req("REQ-MCP-022")
def test_unknown_or_refused_callers_take_no_lock(serve, project):
    served = serve("streamable-http")

    async def scenario() -> None:
        ghost = {"X-QMS-Identity": "ghost", "X-QMS-Instance": "g1"}
        async with served.client(ghost) as client:
            assert "Unknown user 'ghost'" in await refused(client, "qms_inbox", user="ghost")
        async with served.client({"X-QMS-Identity": "qa", "X-QMS-Instance": "q1"}) as client:
            assert "impersonation" in await refused(client, "qms_inbox", user="tu")
        assert qms(project, "--user", "lead", "user", "--add", "ghost", "--group",
                   "reviewer")["ok"]
        async with served.client({}) as trusted:  # neither call left a lock behind
            await ok(trusted, "qms_inbox", user="ghost")
            await ok(trusted, "qms_inbox", user="qa")

    anyio.run(scenario)


@pytest.mark.req("REQ-AUTH-007")
@pytest.mark.req("REQ-MCP-017")
def test_background_daemon_keeps_auth_required(project):
    import os
    import signal

    from _mcp_support import free_port

    port = free_port()
    pid_file = project / ".qms" / "mcp.pid"
    qa = issue(project, "qa")
    try:
        started = subprocess.run(
            [QMS_MCP, "start", "--background", "--host", "0.0.0.0", "--auth", "required",
             "--port", str(port), "--project-root", str(project)],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert started.returncode == 0, started.stderr
        assert "auth:     required" in started.stdout
        assert "headersHelper" in started.stdout and "--header" not in started.stdout
        assert f"dashboard: http://127.0.0.1:{port}/" in started.stdout

        class Served:
            base = f"http://127.0.0.1:{port}"

        assert ping(Served, {})[0] == 401 and ping(Served, bearer(qa))[0] == 200
    finally:
        if pid_file.exists():
            os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGTERM)


@pytest.mark.req("REQ-AUTH-005")
def test_a_damaged_token_store_refuses_every_token_clearly(serve, project):
    qa = issue(project, "qa")
    served = serve("streamable-http", "--auth", "required")
    (project / ".qms" / "tokens.json").write_text("[not json")
    assert ping(served, bearer(qa))[0] == 401
    assert "token store" in served.stderr() and qa not in served.stderr()
    reply = qms(project, "--user", "lead", "token", "list")
    assert not reply["ok"] and "damaged" in reply["error"]["message"]


@pytest.mark.req("REQ-AUTH-015")
@pytest.mark.parametrize("mode", ["required", "optional", "off"])
def test_healthz_says_only_ok_without_a_valid_token(serve, project, mode):
    qa = issue(project, "qa")
    served = serve("streamable-http", "--auth", mode)
    for headers in ({}, bearer(FAKE), bearer(qa + "x"), {"Authorization": f"Basic {qa}"}):
        status, body = http(f"{served.base}/healthz", headers)
        assert (status, json.loads(body)) == (200, {"status": "ok"}), headers
        assert str(project).encode() not in body
    status, body = http(f"{served.base}/healthz", bearer(qa))
    details = json.loads(body)
    assert status == 200 and details["project"] == str(project)
    assert details["pid"] == served.proc.pid and details["server"] == "qms-mcp"
    assert qms(project, "--user", "lead", "token", "revoke", token_id(qa))["ok"]
    assert json.loads(http(f"{served.base}/healthz", bearer(qa))[1]) == {"status": "ok"}
