"""A complete Verification Record authored through the real ``qms`` console script."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import VR, git, make_repo

EVIDENCE = "$ pytest -q\n```\n3 passed | 0 failed\n```\n<!-- not a comment -->"


@pytest.mark.req("REQ-INT-010")
@pytest.mark.req("REQ-INT-011")
@pytest.mark.req("REQ-INT-012")
@pytest.mark.req("REQ-INT-016")
@pytest.mark.req("REQ-INT-018")
@pytest.mark.req("REQ-INT-020")
def test_full_vr_session_through_the_cli(vr, qms_proc, tmp_path):
    make_repo(vr)

    def qms(*args: str) -> str:
        run = qms_proc(vr, "--user", "claude", *args)
        assert run.code == 0, run.err
        return run.out

    def interact(*args: str) -> str:
        return qms("interact", VR, *args)

    assert "Prompt: related_eis" in interact()
    for value in ("EI-3", "Login accepts valid users", "main at HEAD; server on :8000",
                  "POST /login with a valid user", "HTTP 200 and a session cookie"):
        interact("--respond", value)
    evidence = vr / "evidence.txt"
    evidence.write_text(EVIDENCE + "\n")
    out = interact("--respond", "--file", str(evidence))
    pinned = re.search(r"evidence commit ([0-9a-f]{7,})", out).group(1)
    assert git(vr, "log", "-1", "--format=%s").strip() == f"[QMS] {VR} | steps.1 | step_actual"
    interact("--respond", "Pass")
    interact("--respond", "yes")
    for value in ("POST /login with a wrong password", "HTTP 401 | no cookie", "HTTP 401",
                  "Pass", "no", "Pass", "Both sides of the login check behave."):
        interact("--respond", value)
    assert "All prompts are answered" in interact()

    interact("--goto", "related_eis", "--reason", "EI-4 is covered too")
    assert "AMENDMENT MODE" in interact()
    interact("--respond", "EI-3, EI-4")
    interact("--reopen", "steps", "--reason", "Add a logout check")
    for value in ("POST /logout", "cookie cleared", "cookie cleared", "Pass", "no"):
        interact("--respond", value)
    progress = json.loads(qms("--json", "interact", VR, "--progress"))["result"]
    assert progress["complete"] and "[x] step_actual.3 (commit) [steps.3]" in progress["text"]

    preview = interact("--compile")
    qms("checkin", VR)
    document = qms("read", VR)
    assert document.rstrip() == preview.rstrip()
    assert "| CR-001 | EI-3, EI-4 |" in document
    assert "**Related EI(s) (amended):**\n\n> ~~EI-3~~\n\n*-- claude, " in document
    assert "| Amended: EI-4 is covered too*" in document
    assert "### 4.1 Step 1" in document and "### 4.3 Step 3" in document
    assert f"````\n{EVIDENCE}\n````\n\n*-- claude, " in document
    assert f"| commit: {pinned}*" in document
    assert "> HTTP 401 | no cookie" in document
    assert "---\n\n## 5. Summary" in document
    saved = json.loads((vr / "QMS/.meta/VR" / f"{VR}.source.json").read_text())
    assert saved["loops"]["steps"]["reopenings"][0]["reason"] == "Add a logout check"
    assert [e.get("reason") for e in saved["responses"]["related_eis"]] == [
        None, "EI-4 is covered too"]
