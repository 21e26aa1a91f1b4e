"""The container kit run for real: agent containers started as deploy/container/compose.yaml
starts them (read-only project, own workspace writable, tmpfs over .qms/keys, token as a
secret file, no capabilities, no-new-privileges) on an --internal network, the official MCP
client on the host speaking to `qms-mcp-proxy` inside over `docker run -i` stdio, and the real
`qms-mcp --auth required` on the host bound to the network's gateway."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import anyio
import pytest
from _docker import KIT, TTL, Kit, agent, docker

from mcp.shared.exceptions import MCPError

pytestmark = [pytest.mark.container, pytest.mark.anyio, pytest.mark.timeout(600),
              pytest.mark.req("REQ-MCP-025")]

WS = "/project/.claude/users/{user}/workspace"


def text(result) -> str:
    return result.content[0].text


def leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def ok(client, tool: str, **args) -> dict:
    result = await client.call_tool(tool, args)
    assert not result.is_error, f"{tool}({args}): {text(result)}"
    return result.structured_content["result"]


@pytest.mark.req("REQ-MCP-021")
@pytest.mark.req("REQ-AUTH-008")
async def test_an_agent_in_a_container_creates_checks_in_and_routes_a_cr(fresh: Kit):
    async with fresh.agent("claude") as claude:
        assert "qms_create" in {tool.name for tool in (await claude.list_tools()).tools}
        doc_id = (await ok(claude, "qms_create", user="claude", doc_type="CR",
                           title="From a container"))["doc_id"]
        # the agent fills the template in its workspace copy in its container (routing
        # refuses {{...}} placeholders), saving as editors do (a new file renamed over the
        # old: the server, root here, owns the copy it wrote)
        copy = f"{WS.format(user='claude')}/{doc_id}.md"
        fill = "sed -E 's/[{][{][^}]*[}][}]/Filled in the container./g'"
        edit = fresh.exec("claude", f"{fill} {copy} > {copy}.new && mv {copy}.new {copy}")
        assert edit.returncode == 0, edit.stderr
        await ok(claude, "qms_checkin", user="claude", doc_id=doc_id)
        await ok(claude, "qms_route", user="claude", doc_id=doc_id, route_type="review")
    async with fresh.agent("qa") as qa:
        assert doc_id in str(await ok(qa, "qms_inbox", user="qa"))
    steps = {"CREATE", "CHECKIN", "ROUTE_REVIEW"}
    assert [(e["event"], e["user"]) for e in fresh.audit(doc_id) if e["event"] in steps] == [
        ("CREATE", "claude"), ("CHECKIN", "claude"), ("ROUTE_REVIEW", "claude")]
    drafts = list((fresh.project / "QMS/CR").rglob(f"{doc_id}*.md"))
    assert any("Filled in the container." in p.read_text() for p in drafts), drafts


@pytest.mark.req("REQ-MCP-015")
@pytest.mark.req("REQ-AUTH-008")
async def test_a_user_other_than_the_containers_is_refused(fresh: Kit):
    async with fresh.agent("tu") as tu:
        result = await tu.call_tool("qms_inbox", {"user": "qa"})
        assert result.is_error and "'tu'" in text(result), text(result)
        await ok(tu, "qms_inbox", user="tu")


@pytest.mark.req("REQ-MCP-016")
async def test_a_second_container_of_the_same_identity_waits_for_the_first(fresh: Kit):
    async with fresh.agent("qa") as second:
        async with fresh.agent("qa") as first:
            await ok(first, "qms_inbox", user="qa")
            refused = await second.call_tool("qms_inbox", {"user": "qa"})
            assert refused.is_error and "IDENTITY LOCKED" in text(refused), text(refused)
            await ok(first, "qms_inbox", user="qa")  # the holder keeps working
        first_name = fresh.names[-1]
        gone = docker("ps", "-aq", "--filter", f"name=^{first_name}$", check=False)
        assert gone.stdout.strip() == ""  # the first container has stopped (and is removed)
        await anyio.sleep(TTL + 0.5)
        await ok(second, "qms_inbox", user="qa")


@pytest.mark.req("REQ-AUTH-008")
async def test_a_container_without_a_token_or_with_another_users_is_refused(fresh: Kit,
                                                                              tmp_path):
    with pytest.raises(BaseException) as err:
        async with fresh.agent("tu", token=False) as client:
            await client.call_tool("qms_inbox", {"user": "tu"})
    assert "401" in str(leaf(err.value)) and "NOT executed" in str(leaf(err.value))

    stolen = tmp_path / "secrets"
    stolen.mkdir()
    (stolen / "tu.token").write_text(fresh.tokens["claude"])
    (stolen / "tu.token").chmod(0o444)
    async with fresh.agent("tu", secrets_dir=stolen) as client:
        result = await client.call_tool("qms_inbox", {"user": "tu"})
    assert result.is_error and "token identifies you as 'claude'" in text(result), text(result)


@pytest.mark.req("REQ-INTEG-004")
def test_inside_the_container_only_the_own_workspace_can_be_written(kit: Kit):
    ws = WS.format(user="qa")
    script = "; ".join([
        "for p in /project/QMS/probe /project/QMS/.audit/probe /project/.qms/probe "
        "/project/.qms/keys/probe /project/probe /project/.claude/users/tu/workspace/probe; do "
        "(echo x > $p) 2>/dev/null && echo WROTE $p; done",
        "rm -f /project/QMS/SOP/SOP-001.md 2>/dev/null && echo REMOVED",
        "echo KEYS $(ls -A /project/.qms/keys | wc -l)",
        f"echo x > {ws}/probe && rm {ws}/probe && echo WORKSPACE OK",
        "test -r /run/secrets/qms_token && echo TOKEN OK",
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status",
        "echo UID $(id -u)",
    ])
    run = kit.shell("qa", script)
    out = run.stdout
    assert "WROTE" not in out and "REMOVED" not in out, out
    assert "KEYS 0" in out and "WORKSPACE OK" in out and "TOKEN OK" in out, out + run.stderr
    assert "CapEff:\t0000000000000000" in out and "NoNewPrivs:\t1" in out, out
    assert "UID 0" not in out, out
    assert (kit.project / "QMS/SOP/SOP-001.md").is_file()
    assert any((kit.project / ".qms/keys").glob("*.key"))  # the host's key is still there


@pytest.mark.req("REQ-MCP-021")
async def test_a_link_planted_in_the_workspace_is_refused_by_the_server(fresh: Kit):
    ws = WS.format(user="claude")
    outside = fresh.project.parent / "outside.txt"
    async with fresh.agent("claude") as claude:
        doc_id = (await ok(claude, "qms_create", user="claude", doc_type="CR",
                           title="Link target"))["doc_id"]
        before = [e["event"] for e in fresh.audit(doc_id)]
        for target in ("../../../../QMS/SOP/SOP-001.md", "/etc/passwd", "../../../../../outside.txt"):
            plant = fresh.exec("claude", f"cd {ws} && rm -f {doc_id}.md && ln -s {target} {doc_id}.md")
            assert plant.returncode == 0, plant.stderr
            result = await claude.call_tool("qms_checkin", {"user": "claude", "doc_id": doc_id})
            assert result.is_error and "is a symbolic link" in text(result), (target, text(result))
        assert [e["event"] for e in fresh.audit(doc_id)] == before  # nothing recorded

        # a link where the server writes: checkout must not write through it
        plant = fresh.exec("claude", f"cd {ws} && ln -s ../../../../../outside.txt SOP-002.md")
        assert plant.returncode == 0, plant.stderr
        result = await claude.call_tool("qms_checkout", {"user": "claude", "doc_id": "SOP-002"})
        assert result.is_error and "is a symbolic link" in text(result), text(result)
    assert not outside.exists()


@pytest.mark.req("REQ-MCP-021")
async def test_the_proxy_in_a_container_survives_a_server_restart(fresh: Kit):
    async with fresh.agent("claude") as claude:  # the proxy's default retries, as the kit runs it
        await ok(claude, "qms_inbox", user="claude")
        fresh.server.stop()
        with pytest.raises(MCPError, match="unreachable.*NOT executed"):
            await claude.call_tool("qms_inbox", {"user": "claude"})
        fresh.server.start()
        await ok(claude, "qms_inbox", user="claude")  # the same container, no restart


@pytest.mark.req("REQ-MCP-021")
async def test_docker_compose_runs_the_kit_file_as_it_is(fresh: Kit, tmp_path):
    """The compose file itself, run by the installed compose (v1.29 on Debian), with only the
    network, the image tag and the home volume's name overridden for the test."""
    if not shutil.which("docker-compose"):
        pytest.skip("no docker-compose installed")
    override = tmp_path / "override.yaml"
    override.write_text(
        "services:\n  agent:\n    image: qms-agent:test\n"
        f"networks:\n  default:\n    external: true\n    name: {fresh.network}\n"
        f"volumes:\n  agent-home:\n    name: {fresh.prefix}compose-home\n")
    files = ["-f", str(KIT / "compose.yaml"), "-f", str(override), "-p", f"{fresh.prefix}compose"]
    env = {"QMS_USER": "tu", "QMS_PROJECT": str(fresh.project),
           "QMS_SECRETS": str(fresh.secrets), "QMS_HOST_GATEWAY": fresh.gateway}
    try:
        async with agent([*files, "run", "--rm", "-T", "agent"], fresh.url,
                         command="docker-compose", env=env) as tu:
            await ok(tu, "qms_inbox", user="tu")
            refused = await tu.call_tool("qms_inbox", {"user": "qa"})
            assert refused.is_error and "'tu'" in text(refused), text(refused)
    finally:
        fresh.last_agent = time.monotonic()
        subprocess.run(["docker-compose", *files, "down", "-v"], capture_output=True,
                       timeout=120, env={**os.environ, **env})
