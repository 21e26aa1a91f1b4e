"""Static checks of deploy/container/ (no container engine on build machines: nothing is built
or run here; the files are parsed and their promises checked)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from qms.operations.mcp_config import DEFAULT_PORT

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "deploy/container"
DOCKERFILE_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def interpolate(value: object, env: dict[str, str]) -> object:
    """Compose-style `${VAR}`, `${VAR:-default}`, `${VAR:?error}` over a parsed YAML tree."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return INTERPOLATION.sub(substitute, value)


ENV = {"QMS_USER": "qa", "QMS_PROJECT": "/srv/proj", "QMS_SECRETS": "/srv/secrets"}


def compose(env: dict[str, str]) -> dict:
    return interpolate(yaml.safe_load((KIT / "compose.yaml").read_text()), env)


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (KIT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and line[0] != "#"]


@pytest.mark.req("REQ-INTEG-004")
def test_compose_does_not_mount_the_private_signing_key():
    agent = compose(ENV)["services"]["agent"]
    keys = [v for v in agent["volumes"] if v["target"] == "/project/.qms/keys"]
    assert len(keys) == 1 and keys[0]["type"] == "tmpfs" and keys[0]["read_only"] is True


@pytest.mark.req("REQ-CODE-011")
def test_compose_mounts_project_read_only_and_only_own_workspace_writable():
    agent = compose(ENV)["services"]["agent"]
    assert agent["environment"]["QMS_USER"] == "qa"
    assert "host.docker.internal:host-gateway" in agent["extra_hosts"]
    binds = {(v["source"], v["target"]): v["read_only"] for v in agent["volumes"] if v["type"] == "bind"}
    assert binds == {
        ("/srv/proj", "/project"): True,
        ("/srv/proj/.claude/users/qa/workspace", "/project/.claude/users/qa/workspace"): False,
    }
    others = [v["target"] for v in agent["volumes"] if v["type"] != "bind"]
    # an empty tmpfs hides the private signing key; /work, where the agent clones its CR's
    # branch over /git/ (a volume of its own, outside the project); its home (Claude Code state)
    assert others == ["/project/.qms/keys", "/work", "/home/agent"]
    work = next(v for v in agent["volumes"] if v["target"] == "/work")
    assert work["type"] == "volume" and not work.get("read_only")
    assert compose(ENV)["volumes"]["agent-work"]["name"] == "qms-agent-work-qa"  # one per agent
    assert agent["working_dir"] == "/project"


@pytest.mark.parametrize("missing", ["QMS_USER", "QMS_PROJECT", "QMS_SECRETS"])
def test_compose_refuses_to_start_without_identity_or_project(missing):
    env = dict(ENV)
    del env[missing]
    with pytest.raises(KeyError, match=missing):
        compose(env)


def test_compose_builds_the_kit_dockerfile_from_the_repository():
    build = compose(ENV)["services"]["agent"]["build"]
    context = (KIT / build["context"]).resolve()
    assert context == REPO and (context / build["dockerfile"]).is_file()


def test_dockerfile_is_well_formed_and_runs_as_a_user():
    steps = dockerfile()
    assert {name for name, _ in steps} <= DOCKERFILE_INSTRUCTIONS
    assert [name for name, _ in steps if name != "ARG"][0] == "FROM"
    users = [i for i, (name, _) in enumerate(steps) if name == "USER"]
    assert users and steps[users[-1]][1] not in ("root", "0")
    cmd = [args for name, args in steps if name == "CMD"][-1]
    assert json.loads(cmd)[:1] == ["claude"] and "/etc/qms/mcp.json" in json.loads(cmd)
    assert any(name == "RUN" and "/tmp/kit/install.sh" in args for name, args in steps)
    assert "pip install" in (KIT / "install.sh").read_text()
    assert [args for name, args in steps if name == "FROM"] == ["${BASE_IMAGE}"]
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in (KIT / "Dockerfile").read_text()


def test_dockerfile_copies_only_files_the_build_context_sends():
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]

    def sent(path: str) -> bool:
        included = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                included = negated
        return included

    copies = [args.split() for name, args in dockerfile() if name == "COPY"]
    sources = [source for args in copies for source in args[:-1] if not source.startswith("--")]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert sent(source), f"{source} is excluded by .dockerignore"
    assert not sent(".venv") and not sent(".git") and not sent("tests")


def test_container_mcp_json_runs_the_proxy_against_the_host_server():
    server = json.loads((KIT / ".mcp.json").read_text())["mcpServers"]["qms"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert server["type"] == "stdio" and server["command"] in scripts
    assert scripts[server["command"]] == "qms.proxy.main:main"
    assert server["args"] == [f"http://host.docker.internal:{DEFAULT_PORT}/mcp"]
    assert server["env"]["QMS_USER"] == "${QMS_USER}"


@pytest.mark.req("REQ-AUTH-008")
def test_compose_gives_each_agent_its_own_token_as_a_secret_file_not_an_env_variable():
    config = compose(ENV)
    agent = config["services"]["agent"]
    assert "QMS_TOKEN" not in agent["environment"]  # no secret in the compose environment
    assert agent["environment"]["QMS_TOKEN_FILE"] == "/run/secrets/qms_token"
    assert agent["secrets"] == ["qms_token"]
    secret = config["secrets"]["qms_token"]["file"]
    assert secret == "/srv/secrets/qa.token"  # one file per agent, outside the project mount
    assert not secret.startswith(ENV["QMS_PROJECT"])
    other = compose({**ENV, "QMS_USER": "tu"})["secrets"]["qms_token"]["file"]
    assert other == "/srv/secrets/tu.token"
    server = json.loads((KIT / ".mcp.json").read_text())["mcpServers"]["qms"]
    assert server["env"]["QMS_TOKEN_FILE"] == "${QMS_TOKEN_FILE:-}"
    assert "QMS_TOKEN" not in server["env"]


def test_compose_file_uses_only_top_level_keys_compose_v1_accepts():
    """Debian's docker-compose 1.29 refuses a top-level `name:` (a v2 key); the container
    tests run the file with it for real (tests/containers)."""
    top = yaml.safe_load((KIT / "compose.yaml").read_text())
    assert set(top) <= {"services", "secrets", "volumes", "networks", "configs"}, set(top)
    assert compose(ENV)["volumes"]["agent-home"]["name"] == "qms-agent-home-qa"  # one per agent
