"""`qms-mcp-proxy` in front of a real `qms-mcp --auth required`: the token from a Docker-style
secret file (`QMS_TOKEN_FILE`) is sent as a bearer token and never logged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _proxy_support import PROXY, leaf, text

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.req("REQ-AUTH-008")]

BIN = Path(sys.executable).parent


@pytest.fixture
def secured(server_factory, project: Path):
    argv = [str(BIN / "qms-mcp"), "--transport", "streamable-http", "--host", "127.0.0.1",
            "--project-root", str(project), "--auth", "required"]
    return server_factory(argv)


def issue(project: Path, user: str) -> str:
    run = subprocess.run([str(BIN / "qms"), "--json", "--user", "lead", "token", "issue", user],
                         cwd=project, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(run.stdout)["result"]["token"]


def proxy(url: str, env: dict[str, str], errlog) -> Client:
    params = StdioServerParameters(command=PROXY, args=[url, "--log-level", "DEBUG"], env=env)
    return Client(stdio_client(params, errlog=errlog), mode="legacy")


async def test_token_file_authenticates_the_proxied_agent(secured, project, tmp_path):
    token = issue(project, "qa")
    secret = tmp_path / "qa.token"
    secret.write_text(token + "\n")  # Docker secret files often end with a newline
    log = tmp_path / "proxy.log"
    with log.open("w") as errlog:
        async with proxy(secured.url, {"QMS_USER": "qa", "QMS_TOKEN_FILE": str(secret)},
                         errlog) as client:
            assert not (await client.call_tool("qms_inbox", {"user": "qa"})).is_error
            forged = await client.call_tool("qms_inbox", {"user": "claude"})
            assert forged.is_error and "token identifies you as 'qa'" in text(forged)
    assert "token set" in log.read_text()
    assert token not in log.read_text()
    assert token not in (Path(secured.log).read_text())


async def test_token_of_another_user_cannot_ride_on_qms_user(secured, project, tmp_path):
    secret = tmp_path / "claude.token"
    secret.write_text(issue(project, "claude"))
    with (tmp_path / "proxy.log").open("w") as errlog:
        async with proxy(secured.url, {"QMS_USER": "qa", "QMS_TOKEN_FILE": str(secret)},
                         errlog) as client:
            result = await client.call_tool("qms_inbox", {"user": "qa"})
    assert result.is_error and "token identifies you as 'claude'" in text(result)


async def test_without_a_valid_token_the_proxied_agent_is_told_clearly(secured, tmp_path):
    for env in ({"QMS_USER": "qa"}, {"QMS_USER": "qa", "QMS_TOKEN": "qms_0badf00d_" + "A" * 43}):
        with (tmp_path / "proxy.log").open("w") as errlog:
            with pytest.raises(BaseException) as err:
                async with proxy(secured.url, env, errlog) as client:
                    await client.call_tool("qms_inbox", {"user": "qa"})
        assert "401" in str(leaf(err.value)) and "NOT executed" in str(leaf(err.value))


def test_unreadable_token_file_is_a_one_line_startup_error(tmp_path):
    run = subprocess.run([PROXY, "http://127.0.0.1:9/mcp"], capture_output=True, text=True,
                         timeout=30, stdin=subprocess.DEVNULL,
                         env={"QMS_TOKEN_FILE": str(tmp_path / "missing.token")})
    assert run.returncode == 1
    assert "missing.token" in run.stderr and len(run.stderr.strip().splitlines()) == 1
