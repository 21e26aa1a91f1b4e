"""Hostile and damaged files over the real MCP server (issue 8, items 1-2, 8): structured
errors naming the file, never "Error executing tool"; listings survive one damaged document;
the background server's log is rotated by size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import anyio
import pytest

from _mcp_support import QMS_MCP, free_port, http, ok
from qms.store.transaction import pending

WS = ".claude/users/claude/workspace"


async def _error(client, tool: str, **args) -> dict:
    result = await client.call_tool(tool, args)
    assert result.is_error, f"{tool} unexpectedly succeeded"
    assert result.structured_content is not None, result.content[0].text  # structured
    error = result.structured_content["error"]
    assert error["message"] == result.content[0].text
    return error


@pytest.mark.req("REQ-HARD-001")
@pytest.mark.req("REQ-HARD-005")
def test_links_and_damaged_files_over_mcp(serve, project, tmp_path):
    served = serve("streamable-http")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    sop2 = project / "QMS" / "SOP" / "SOP-002.md"
    original = sop2.read_bytes()

    async def scenario() -> None:
        async with served.client() as client:
            link = project / WS / "SOP-001.md"
            link.symlink_to("../../../../QMS/SOP/SOP-002.md")
            error = await _error(client, "qms_checkout", user="claude", doc_id="SOP-001")
            assert error["code"] == "project" and f"{WS}/SOP-001.md" in error["message"]
            assert sop2.read_bytes() == original and not pending(project / ".qms" / "journal")
            link.unlink()

            a = (await ok(client, "qms_create", user="claude", doc_type="CR", title="A"))["doc_id"]
            b = (await ok(client, "qms_create", user="claude", doc_type="CR", title="B"))["doc_id"]
            ws = project / WS / f"{a}.md"
            ws.unlink()
            ws.symlink_to(outside / "secret.txt")
            error = await _error(client, "qms_checkin", user="claude", doc_id=a)
            assert "symbolic link" in error["message"]
            ws.unlink()
            os.mkfifo(ws)
            error = await _error(client, "qms_checkin", user="claude", doc_id=a)
            assert "FIFO" in error["message"]

            for bad in ("[]", "{}", "null", "{oops"):
                (project / "QMS" / ".meta" / "CR" / f"{a}.json").write_text(bad)
                error = await _error(client, "qms_status", user="claude", doc_id=a)
                assert f"QMS/.meta/CR/{a}.json" in error["message"]
                listed = await ok(client, "qms_workspace", user="claude")
                assert b in str(listed["documents"]) and listed["warnings"]
            with open(project / "QMS" / ".audit" / "CR" / f"{b}.jsonl", "a") as trail:
                trail.write("[1, 2]\n")
            history = await ok(client, "qms_history", user="claude", doc_id=b)
            assert history["events"] and "line 3" in history["warnings"][0]
            (project / "QMS" / ".meta" / "sdlc_namespaces.json").write_text("[")
            error = await _error(client, "qms_create", user="claude", doc_type="WEB-RS",
                                 title="x")
            assert "sdlc_namespaces.json" in error["message"]
            await ok(client, "qms_create", user="claude", doc_type="CR", title="Still fine")

            folder = project / WS  # a symlinked workspace folder at create
            folder.rename(tmp_path / "moved-workspace")
            folder.symlink_to(outside, target_is_directory=True)
            error = await _error(client, "qms_create", user="claude", doc_type="CR",
                                 title="Through a link")
            assert WS in error["message"] and sorted(os.listdir(outside)) == ["secret.txt"]
            inbox = project / ".claude" / "users" / "qa" / "inbox"  # and a symlinked inbox
            inbox.rename(tmp_path / "moved-inbox")
            inbox.symlink_to(outside, target_is_directory=True)
            error = await _error(client, "qms_inbox", user="qa")
            assert ".claude/users/qa/inbox" in error["message"]
            assert not pending(project / ".qms" / "journal")

    anyio.run(scenario)
    assert (outside / "secret.txt").read_text() == "TOP SECRET\n"
    assert "Traceback" not in served.stderr()


@pytest.mark.req("REQ-HARD-008")
def test_log_file_rotates_by_size(tmp_path):
    """Everything written to fds 1 and 2 lands in the log; it rotates, a few files kept."""
    log = tmp_path / "mcp.log"
    script = (
        "import os, sys, logging\n"
        "from pathlib import Path\n"
        "from qms.server import logfile\n"
        f"logfile.capture(Path({str(log)!r}), limit=2048, keep=3)\n"
        "for i in range(300):\n"
        "    print(f'stdout line {i:04d}', flush=True)\n"
        "    os.write(2, f'raw stderr line {i:04d}\\n'.encode())\n"
        "sys.stderr.write('the end\\n')\n")
    subprocess.run([os.sys.executable, "-c", script], check=True, timeout=30)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["mcp.log", "mcp.log.1", "mcp.log.2", "mcp.log.3"], files
    for name in files:
        assert (tmp_path / name).stat().st_size <= 2048
    assert (tmp_path / "mcp.log").read_text().endswith("the end\n")
    newest = (tmp_path / "mcp.log.1").read_text() + (tmp_path / "mcp.log").read_text()
    assert "stdout line 0299" in newest and "raw stderr line 0299" in newest


@pytest.mark.req("REQ-HARD-008")
def test_background_server_log_is_rotated(project):
    log = project / ".qms" / "mcp.log"
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(b"old\n" * 1000)  # already over the limit: rotated at start
    port = free_port()
    pid_file = project / ".qms" / "mcp.pid"
    env = {**os.environ, "QMS_MCP_LOG_MAX_BYTES": "2048"}
    root = ["--project-root", str(project)]
    try:
        started = subprocess.run([QMS_MCP, "start", "--background", "--port", str(port),
                                  "--log-level", "DEBUG", *root], capture_output=True,
                                 text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        assert started.returncode == 0, started.stderr
        assert (project / ".qms" / "mcp.log.1").read_bytes() == b"old\n" * 1000
        for _ in range(40):  # each request is logged at DEBUG
            assert http(f"http://127.0.0.1:{port}/healthz")[0] == 200
            http(f"http://127.0.0.1:{port}/mcp", {"Content-Type": "application/json"}, b"{}")
        stopped = subprocess.run([QMS_MCP, "stop", *root], capture_output=True, text=True,
                                 timeout=30)
        assert stopped.returncode == 0
    finally:
        if pid_file.exists():
            os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGKILL)
    names = sorted(p.name for p in (project / ".qms").glob("mcp.log*"))
    assert names[0] == "mcp.log" and len(names) <= 4, names
    assert len(names) >= 3, names  # rotated while serving, not only at start
    assert (project / ".qms" / "mcp.log").stat().st_size <= 2048
    assert not any(Path(project / ".qms" / n).is_symlink() for n in names)


@pytest.mark.req("REQ-HARD-001")
@pytest.mark.req("REQ-INTEG-009")
def test_what_the_server_keeps_never_hides_a_hand_edit_or_a_link(serve, project, tmp_path):
    """The server reads through openat2 and keeps what it parsed per file identity
    (atomic.cached). After a document's meta was read and kept: an edit in place with its
    size and mtime put back is refused as not the signed state; a link swapped in for it is
    refused, never followed; put right, it reads again."""
    import time

    served = serve("streamable-http")
    outside = tmp_path / "outside"
    outside.mkdir()

    async def scenario() -> None:
        async with served.client() as client:
            doc = (await ok(client, "qms_create", user="claude", doc_type="CR",
                            title="Kept"))["doc_id"]
            meta = project / "QMS" / ".meta" / "CR" / f"{doc}.json"
            time.sleep(0.3)  # past the racy window: the next reads are kept
            for _ in range(2):
                assert (await ok(client, "qms_status", user="claude", doc_id=doc))["status"] \
                    == "DRAFT"
            text, before = meta.read_bytes(), meta.stat()
            forged = text.replace(b'"checked_out": true', b'"checked_out": null')
            assert forged != text and len(forged) == len(text)
            time.sleep(0.01)
            with open(meta, "r+b") as handle:  # same inode, same size
                handle.write(forged)
            os.utime(meta, ns=(before.st_atime_ns, before.st_mtime_ns))
            error = await _error(client, "qms_status", user="claude", doc_id=doc)
            assert "does not match its signed audit trail" in error["message"]
            (outside / "meta.json").write_bytes(text)
            meta.unlink()
            meta.symlink_to(outside / "meta.json")
            error = await _error(client, "qms_status", user="claude", doc_id=doc)
            assert "symbolic link" in error["message"] and f"{doc}.json" in error["message"]
            meta.unlink()
            meta.write_bytes(text)
            assert (await ok(client, "qms_status", user="claude", doc_id=doc))["status"] \
                == "DRAFT"

    anyio.run(scenario)
    assert "Traceback" not in served.stderr()
    assert "confined reads: openat2" in served.stderr()
