"""Functional equivalence: the same CR lifecycle through the `qms` CLI and through a real
`qms-mcp` server leaves the same files (meta, audit, drafts, archives, inboxes), apart from
timestamps."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest

from _mcp_support import QMS_CLI, lifecycle, lifecycle_steps

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.req("REQ-MCP-020")]

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")
# chain hashes and signatures cover the timestamps, so they differ too (both runs verify)
DIGEST = re.compile(r"\b[0-9a-f]{64,128}\b")
TITLE = "Fix X"


def snapshot(root: Path) -> dict[str, str]:
    """Every file the operations write, with timestamps blanked."""
    files = [p for area in ("QMS", ".claude/users") for p in (root / area).rglob("*")
             if p.is_file()]
    return {str(p.relative_to(root)):
            DIGEST.sub("<hash>", TIMESTAMP.sub("<ts>", p.read_text(errors="replace")))
            for p in files}


def cli(root: Path, user: str, *argv: str) -> None:
    done = subprocess.run([QMS_CLI, "--user", user, *argv], cwd=root, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"qms --user {user} {' '.join(argv)}: {done.stderr}"


def cli_lifecycle(root: Path) -> None:
    cli(root, "claude", "create", "CR", "--title", TITLE)
    doc_id = "CR-001"
    for user, tool, args in lifecycle_steps(TITLE):
        command = tool.removeprefix("qms_")
        argv = [command, doc_id]
        if "content" in args:  # the CLI way: edit the workspace copy, then check in
            workspace = root / ".claude" / "users" / user / "workspace"
            (workspace / f"{doc_id}.md").write_text(args["content"])
        if command == "route":
            argv.append(f"--{args['route_type']}")
        if command == "review":
            argv += [f"--{args['outcome']}", "--comment", args["comment"]]
        cli(root, user, *argv)


def test_cli_and_mcp_leave_the_same_state(serve, project, tmp_path):
    via_cli = tmp_path / "via-cli"
    shutil.copytree(project, via_cli, symlinks=True)
    cli_lifecycle(via_cli)

    served = serve("streamable-http")

    async def via_mcp() -> str:
        async with served.client() as client:
            return await lifecycle(lambda _user: client, TITLE)

    assert anyio.run(via_mcp) == "CR-001"
    expected, actual = snapshot(via_cli), snapshot(project)
    assert sorted(actual) == sorted(expected)
    for path, text in expected.items():
        assert actual[path] == text, path
    assert {"QMS/.audit/CR/CR-001.jsonl", "QMS/.meta/CR/CR-001.json"} <= set(expected)
    for root in (via_cli, project):  # REQ-INTEG-001: both trails are intact
        done = subprocess.run([QMS_CLI, "--user", "qa", "verify"], cwd=root,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout
