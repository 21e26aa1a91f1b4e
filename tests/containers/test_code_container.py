"""Code work from an agent container: clone the CR's branch over the authority's /git/ into
the writable /work volume, commit, push through the gate; the project stays read-only, and a
push outside the approved scope is refused (INV-008's CAPA-002)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _docker import BIN, Kit, serve

pytestmark = [pytest.mark.container, pytest.mark.timeout(600)]

SCOPE = """```qms-scope
system: APP
paths: [src/app/auth/**]
requirements: revise
```"""


def qms(project: Path, *args: str) -> dict:
    run = subprocess.run([str(BIN / "qms"), "--json", *args], cwd=project, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)["result"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def code_kit(agent_image: str, network: tuple[str, str], tmp_path_factory) -> Iterator[Kit]:
    """A governed project (system APP, CR-001 scoped to src/app/auth/ and released for claude)
    served to agent containers."""
    from qms.operations import init

    base = tmp_path_factory.mktemp("code-kit")
    project = base / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    init(project, yes=True)
    for rel in ("src/app/auth/login.py", "src/app/other.py"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("x\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "initial")
    qms(project, "--user", "lead", "system", "add", "APP", "--path", "src/app")
    qms(project, "--user", "claude", "create", "CR", "--title", "Login")
    body = (f"---\ntitle: Login\nrevision_summary: Initial draft\n---\n\n# CR-001: Login\n\n"
            f"## 1. Purpose\n\nFix the login.\n\n{SCOPE}\n")
    (project / ".claude/users/claude/workspace/CR-001.md").write_text(body)
    for user, *args in (("claude", "route", "CR-001", "--review"),
                        ("qa", "review", "CR-001", "--recommend", "--comment", "ok"),
                        ("claude", "route", "CR-001", "--approval"),
                        ("qa", "approve", "CR-001"), ("claude", "release", "CR-001")):
        qms(project, "--user", user, *args)
    kit = serve(project, base, network)
    yield kit
    kit.server.stop()
    kit.remove()


def clone_script(port: int, change: str) -> str:
    return f"""set -e
T=$(cat /run/secrets/qms_token)
rm -rf /work/cr1
git -c http.extraHeader="Authorization: Bearer $T" clone -q -b cr/CR-001 \\
    http://host.docker.internal:{port}/git/ /work/cr1
cd /work/cr1
git config http.extraHeader "Authorization: Bearer $T"
git config user.name agent
git config user.email agent@example.invalid
echo "changed $(date +%s%N)" > {change}  # a change, whatever ran before
git commit -qam "from the container" -m "QMS-CR: CR-001"
git push -q origin cr/CR-001
"""


@pytest.mark.req("REQ-CODE-011", "REQ-CODE-009")
def test_an_agent_clones_commits_and_pushes_its_crs_code(code_kit: Kit):
    run = code_kit.shell("claude", clone_script(code_kit.server.port, "src/app/auth/login.py"))
    assert run.returncode == 0, run.stdout + run.stderr
    trail = code_kit.audit("CR-001")
    [push] = [e for e in trail if e["event"] == "CODE_PUSH"]
    assert push["user"] == "claude" and push["via"] == "http"
    assert push["paths"] == ["src/app/auth/login.py"]


@pytest.mark.req("REQ-CODE-007", "REQ-CODE-011")
def test_an_agent_cannot_change_code_outside_its_scope_or_the_project(code_kit: Kit):
    run = code_kit.shell("claude", clone_script(code_kit.server.port, "src/app/other.py"))
    assert run.returncode != 0 and "[scope]" in run.stderr, run.stderr
    run = code_kit.shell("claude", "echo x > /project/src/app/auth/login.py")
    assert run.returncode != 0  # the project is read-only; /work is the place for code
    run = code_kit.shell("qa", clone_script(code_kit.server.port, "src/app/auth/login.py"))
    assert run.returncode != 0 and "[executor]" in run.stderr, run.stderr
    assert len([e for e in code_kit.audit("CR-001") if e["event"] == "CODE_PUSH"]) <= 1
