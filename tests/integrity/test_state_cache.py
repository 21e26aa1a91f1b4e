"""Meta, tokens and settings are caches of the signed trail: a hand edit is refused by the
operations that would act on it, and `qms verify` names it (attacks through the real CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

req = pytest.mark.req
META = "QMS/.meta/CR/CR-002.json"
QMS_BIN = Path(sys.executable).with_name("qms")


def run(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("QMS_PROJECT_ROOT", "QMS_TOKEN")}
    return subprocess.run([str(QMS_BIN), *args], cwd=root, capture_output=True, text=True,
                          timeout=60, env={**base, **(env or {})})


def ok(root: Path, user: str, *args: str, env: dict | None = None) -> str:
    proc = run(root, "--user", user, *args, env=env)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def verify(root: Path, *ids: str) -> tuple[int, dict]:
    proc = run(root, "--user", "qa", "--json", "verify", *ids)
    assert proc.returncode in (0, 1), proc.stderr
    out = json.loads(proc.stdout)
    assert (proc.returncode == 0) == out["result"]["clean"]
    return proc.returncode, out["result"]


def routed(project: Path) -> Path:
    ok(project, "claude", "create", "CR", "--title", "Two")  # CR-001
    ok(project, "claude", "create", "CR", "--title", "Target")  # CR-002
    ok(project, "claude", "route", "CR-002", "--review", "--assign", "qa")
    return project / META


def forge_round(meta: Path) -> None:
    data = json.loads(meta.read_text())
    data.update(pending_assignees=["tu"], review_outcomes={"qa": "RECOMMEND"})
    meta.write_text(json.dumps(data, indent=2))


@req("REQ-INTEG-009")
def test_forged_review_round_in_meta_is_refused_and_named(project):
    meta = routed(project)
    forge_round(meta)
    proc = run(project, "--user", "tu", "review", "CR-002", "--recommend", "--comment", "ok")
    assert proc.returncode == 1, proc.stdout
    assert "edited outside qms" in proc.stderr and "qms verify CR-002" in proc.stderr
    last = (project / "QMS/.audit/CR/CR-002.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["event"] == "ROUTE_REVIEW"  # nothing was recorded
    for args in (("--user", "claude", "route", "CR-002", "--approval"),
                 ("--user", "tu", "approve", "CR-002"), ("--user", "claude", "status", "CR-002")):
        proc = run(project, *args)
        assert proc.returncode == 1 and "edited outside qms" in proc.stderr, args
    code, result = verify(project, "CR-002")
    assert code == 1
    fields = {f.get("field") for f in result["findings"] if f["kind"] == "meta"}
    assert {"pending_assignees", "review_outcomes"} <= fields, result["findings"]
    # restoring the file (here: the fields as qms left them) makes the document usable again
    data = json.loads(meta.read_text())
    data.update(pending_assignees=["qa"], review_outcomes={})
    meta.write_text(json.dumps(data))
    ok(project, "qa", "review", "CR-002", "--recommend", "--comment", "fine")
    assert verify(project)[0] == 0


@req("REQ-INTEG-009")
def test_any_meta_field_edit_is_refused(project):
    meta = routed(project)
    for key, value in (("retiring", True), ("effective_version", "1.0"),
                       ("execution_phase", "post_release"), ("responsible_user", "tu")):
        before = meta.read_text()
        data = json.loads(before)
        data[key] = value
        meta.write_text(json.dumps(data))
        proc = run(project, "--user", "qa", "review", "CR-002", "--recommend", "--comment", "x")
        assert proc.returncode == 1 and "edited outside qms" in proc.stderr, key
        code, result = verify(project, "CR-002")
        assert code == 1 and any(f["kind"] == "meta" for f in result["findings"]), key
        meta.write_text(before)
    assert verify(project)[0] == 0


@req("REQ-INTEG-009")
def test_each_state_change_records_the_hash_of_the_meta_it_left(project):
    from qms.store import meta as meta_store

    meta = routed(project)
    last = json.loads((project / "QMS/.audit/CR/CR-002.jsonl").read_text().splitlines()[-1])
    assert last["state_sha256"] == meta_store.state_sha256(meta.read_text())
    # formatting does not matter, content does
    meta.write_text(json.dumps(json.loads(meta.read_text())))
    assert last["state_sha256"] == meta_store.state_sha256(meta.read_text())
    ok(project, "claude", "status", "CR-002")
