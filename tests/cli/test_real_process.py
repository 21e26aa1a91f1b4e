"""The real startup path: the installed ``qms`` console script run as a subprocess."""

from __future__ import annotations

import json

import pytest

from qms.store.transaction import pending

req = pytest.mark.req
pytestmark = [pytest.mark.slow, req("REQ-CLI-001")]


def _ok(qms_proc, root, *args):
    run = qms_proc(root, *args)
    assert run.code == 0, f"qms {' '.join(args)}: {run.code} {run.err}{run.out}"
    return run


@req("REQ-WF-003")
@req("REQ-WF-021")
def test_cr_lifecycle_in_real_processes(qms_proc, project):
    u = ("--user", "claude")
    run = _ok(qms_proc, project, *u, "--json", "create", "CR", "--title", "Real process")
    doc = json.loads(run.out)["result"]["doc_id"]
    assert doc == "CR-001"
    ws = project / ".claude" / "users" / "claude" / "workspace" / f"{doc}.md"
    ws.write_text("---\ntitle: Real process\nrevision_summary: plan\n---\n\n# Plan\n")
    _ok(qms_proc, project, *u, "checkin", doc)
    _ok(qms_proc, project, *u, "route", doc, "--review")
    _ok(qms_proc, project, "-u", "qa", "review", doc, "--recommend", "--comment", "ok")
    _ok(qms_proc, project, *u, "route", doc, "--approval")
    _ok(qms_proc, project, "-u", "qa", "approve", doc)
    _ok(qms_proc, project, *u, "release", doc)
    _ok(qms_proc, project, *u, "checkout", doc)
    ws.write_text("---\ntitle: Real process\nrevision_summary: done\n---\n\n# Executed\n")
    _ok(qms_proc, project, *u, "checkin", doc)
    _ok(qms_proc, project, *u, "route", doc, "--review")
    _ok(qms_proc, project, "-u", "qa", "review", doc, "--recommend", "--comment", "done")
    _ok(qms_proc, project, *u, "route", doc, "--approval")
    _ok(qms_proc, project, "-u", "qa", "approve", doc)
    _ok(qms_proc, project, *u, "close", doc)
    status = json.loads(_ok(qms_proc, project, "-u", "tu", "--json", "status", doc).out)
    assert status["ok"] is True
    assert (status["result"]["status"], status["result"]["version"]) == ("CLOSED", "2.0")
    history = _ok(qms_proc, project, "-u", "tu", "history", doc).out
    versions = [line.split(" - v")[1].split()[0] for line in history.splitlines()[1:]
                if " - v" in line]
    assert versions[0] == "0.1" and versions[-1] == "2.0" and "1.0" in versions and "1.1" in versions
    events = [json.loads(x) for x in
              (project / "QMS" / ".audit" / "CR" / f"{doc}.jsonl").read_text().splitlines()]
    assert all({"ts", "event", "user", "version"} <= set(e) for e in events)
    assert "# Executed" in (project / "QMS" / "CR" / doc / f"{doc}.md").read_text()
    assert not pending(project / ".qms" / "journal")


def test_exit_codes_and_stderr(qms_proc, project, tmp_path):
    run = qms_proc(project, "--user", "claude", "status", "CR-404")
    assert run.code == 1 and run.out == ""
    assert run.err.startswith("Error: ") and run.err.count("\n") == 1 and "CR-404" in run.err
    run = qms_proc(project, "--user", "qa", "create", "CR", "--title", "x")
    assert run.code == 1 and "Permission denied" in run.err
    run = qms_proc(project, "--user", "claude", "create", "CR")
    assert run.code == 2 and run.out == "" and run.err.startswith("Error: ")
    assert "--title" in run.err
    run = qms_proc(project, "status", "SOP-001")
    assert run.code == 2 and "--user" in run.err
    run = qms_proc(project, "--user", "claude", "bogus")
    assert run.code == 2
    run = qms_proc(project)
    assert run.code == 2 and "usage" in run.out.lower()
    run = qms_proc(project, "--user", "claude", "--json", "status", "../../etc")
    assert run.code == 1 and run.err == ""
    body = json.loads(run.out)
    assert body["ok"] is False and set(body["error"]) == {"code", "message", "details"}
    run = qms_proc(tmp_path, "--user", "claude", "status", "SOP-001")
    assert run.code == 1 and "No QMS project" in run.err
    run = qms_proc(project, "--user", "claude", "--help")
    assert run.code == 0 and "checkout" in run.out


def test_undecodable_argv_bytes(project, helpers, digest):
    """Bytes that are not UTF-8 in argv give a clean error, not a traceback."""
    import os
    import subprocess

    before = digest(project)
    env = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}
    proc = subprocess.run([os.fsencode(helpers.QMS_BIN), b"--user", b"claude", b"create", b"CR",
                           b"--title", b"bad \xff bytes"], cwd=project, env=env,
                          capture_output=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(b"Error: ") and b"Traceback" not in proc.stderr
    assert digest(project) == before


@req("REQ-INIT-012")
@pytest.mark.parametrize("answer", ["", "n\n", "no\n", "maybe\n"])
def test_init_prompt_defaults_to_no(qms_proc, tmp_path, answer):
    root = tmp_path / "p"
    root.mkdir()
    run = qms_proc(root, "init", input=answer)
    assert run.code == 1
    assert "[y/N]" in run.err + run.out
    assert "Not initialised" in run.err
    assert list(root.iterdir()) == []


@req("REQ-INIT-012")
@req("REQ-INIT-010")
def test_init_prompt_yes_and_root_flag(qms_proc, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    run = qms_proc(tmp_path, "init", "--root", str(root), input="y\n")
    assert run.code == 0, run.err
    assert (root / "qms.config.json").is_file() and (root / "QMS" / "TEMPLATE").is_dir()
    run = qms_proc(root, "init", "--yes")
    assert run.code == 1 and "already present" in run.err
