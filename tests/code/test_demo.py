"""`scripts/demo/build.sh` (what `bash scripts/demo.sh` serves): the demo app is a system, a CR
executed in its code area landed as a release, another waits at a refused push, and the
project verifies clean, repository included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _code_support import env, git, rev
from qms import operations as ops
from qms.store.project import Project

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.req("REQ-CODE-021")
def test_the_demo_builds_a_governed_project(tmp_path):
    demo = tmp_path / "demo"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    run = subprocess.run(["bash", str(REPO / "scripts" / "demo" / "build.sh"), str(demo)],
                         env={**env(), "PATH": path}, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "PASS: CR-003 may land" in run.stdout and "released as APP-1.0" in run.stdout
    assert "refused [scope]" in run.stdout and "app/auth/service.py" in run.stdout
    p = Project.open(demo)
    result = ops.verify(p, "qa")
    assert result.clean, result.findings
    assert any("repository agrees with the chain" in n for n in result.notes)
    assert rev(demo, "APP-1.0^{commit}") == rev(demo, "main~2")  # then two records commits
    record = ops.code_record(p, "qa", doc_id="CR-003")
    assert [m["release"] for m in record.merges] == ["APP-1.0"] and len(record.pushes) == 1
    waiting = ops.code_record(p, "qa", doc_id="CR-004")
    assert waiting.pushes == [] and waiting.gate["verdict"] == "fail"
    assert ops.status(p, "qa", doc_id="CR-003").status == "CLOSED"
    assert git(demo, "status", "--porcelain", "--", "app").stdout == b""
    trail = (demo / "QMS" / ".audit" / "project.jsonl").read_text().splitlines()
    assert [json.loads(x)["release"] for x in trail if '"CODE_MERGE"' in x] == ["APP-1.0"]
