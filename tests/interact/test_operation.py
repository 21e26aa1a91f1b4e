"""``qms interact`` and the VR lifecycle hooks, through the CLI (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qms import operations as ops
from qms.errors import ProjectError, ValidationError
from qms.store.project import Project

from .conftest import VR, git, make_repo
PRE_LOOP = ["EI-1", "Objective", "Preconditions"]


@pytest.fixture
def qi(cli, vr):
    """``qi(*args)`` = ``qms --user claude --json interact VR *args`` -> (exit, payload)."""
    def run(*args: str, user: str = "claude"):
        result = cli(vr, "--user", user, "--json", "interact", VR, *args)
        return result.code, json.loads(result.out or result.err)
    return run


def answer_all(qi, values):
    for value in values:
        code, out = qi("--respond", value)
        assert code == 0, out


def digest(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".git" not in p.parts and p.name != "lock"}


def session(root: Path) -> dict:
    return json.loads((root / ".claude/users/claude/workspace" / f"{VR}.interact").read_text())


@pytest.mark.req("REQ-INT-007")
def test_create_starts_a_session_with_placeholder(vr):
    ws = vr / ".claude/users/claude/workspace"
    data = session(vr)
    assert data["cursor"] == "related_eis" and data["metadata"] == {
        "parent_doc_id": "CR-001", "vr_id": VR, "title": "Login works"}
    assert "qms --user claude interact" in (ws / f"{VR}.md").read_text()
    draft = (vr / "QMS/CR/CR-001" / f"{VR}-draft.md").read_text()
    assert draft.startswith("---\ntitle: Login works\n")
    assert f"# {VR}: Login works" in draft and "| CR-001 |  |  |" in draft
    assert "@prompt" not in draft and "## 4. Verification Steps" in draft


@pytest.mark.req("REQ-INT-010")
def test_status_without_flags(qi):
    code, out = qi()
    assert code == 0 and out["result"]["action"] == "status"
    assert out["result"]["cursor"] == "related_eis" and not out["result"]["complete"]
    assert "Prompt: related_eis" in out["result"]["text"]


@pytest.mark.req("REQ-INT-013")
def test_flag_precedence_and_read_only_views(qi, vr):
    answer_all(qi, ["EI-1"])
    before = digest(vr)
    everything = ("--progress", "--compile", "--cancel-goto", "--goto", "related_eis",
                  "--reason", "r", "--reopen", "steps", "--respond", "x")
    code, out = qi(*everything)
    assert out["result"]["action"] == "progress" and "[x] related_eis" in out["result"]["text"]
    code, out = qi(*everything[1:])
    assert out["result"]["action"] == "compile"
    assert out["result"]["text"].startswith("---\ntitle: Login works\n")
    assert digest(vr) == before  # previews write nothing
    code, out = qi(*everything[2:])
    assert code == 1 and "no amendment" in out["error"]["message"]
    code, out = qi(*everything[3:])
    assert out["result"]["action"] == "goto" and out["result"]["cursor"] == "related_eis"
    code, out = qi("--cancel-goto")
    assert out["result"]["cursor"] == "objective"
    code, out = qi("--reopen", "steps", "--reason", "r", "--respond", "x")
    assert code == 1 and "not closed" in out["error"]["message"]
    assert session(vr)["responses"].keys() == {"related_eis"}


@pytest.mark.req("REQ-INT-011")
def test_respond_from_file_outside_the_project_is_refused(qi, vr, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not evidence\n")
    before = session(vr)
    code, out = qi("--respond", "--file", str(secret))
    assert code == 1 and out["error"]["code"] == "permission_denied"
    assert "outside the project" in out["error"]["message"]
    assert session(vr) == before


@pytest.mark.req("REQ-INT-011")
def test_respond_from_file_keeps_fences_verbatim(qi, vr, tmp_path):
    evidence = vr / "out.txt"
    evidence.write_text("$ run\n```\nfenced\n```\n| a | b |\n\n")
    answer_all(qi, PRE_LOOP + ["run", "works"])
    code, out = qi("--respond", "--file", str(evidence))
    assert code == 0, out
    assert session(vr)["responses"]["step_actual.1"][0]["value"] == (
        "$ run\n```\nfenced\n```\n| a | b |")
    code, out = qi("--compile")
    assert "````\n$ run\n```\nfenced\n```\n| a | b |\n````" in out["result"]["text"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"respond": "a\udcffb"}, "response is not valid UTF-8"),
    ({"respond": "a\x00b"}, "response contains NUL"),
    ({"respond": "x" * 2_000_001}, "response is too large"),
    ({"goto": "related_eis", "reason": "bad \udcff"}, "reason is not valid UTF-8"),
])
def test_unstorable_text_is_refused(vr, kwargs, fragment):
    project = Project.open(vr)
    with pytest.raises(ValidationError, match=fragment):
        ops.interact(project, "claude", doc_id=VR, **kwargs)


@pytest.mark.parametrize("args, code, fragment", [
    (("--respond",), 1, "empty response"),
    (("--respond", "x", "--file", "f.txt"), 2, "not both"),
    (("--file", "missing.txt"), 1, "File not found"),
    (("--goto", "related_eis"), 1, "requires a reason"),
    (("--goto", "objective", "--reason", "r"), 1, "has not been answered"),
    (("--goto", "nope", "--reason", "r"), 1, "is not a prompt"),
    (("--reopen", "steps"), 1, "requires a reason"),
])
def test_refusals(qi, vr, args, code, fragment):
    answer_all(qi, ["EI-1"])
    before = digest(vr)
    got, out = qi(*args)
    assert got == code and fragment in out["error"]["message"]
    assert digest(vr) == before


def test_who_may_interact(cli, vr, qi):
    code, out = qi(user="qa")
    assert code == 1 and out["error"]["code"] == "permission_denied"
    code, out = qi(user="lead")
    assert code == 1 and out["error"]["code"] == "conflict" and "claude" in out["error"]["message"]
    code, out = qi(user="ghost")
    assert code == 1 and out["error"]["code"] == "not_found"
    run = cli(vr, "--user", "claude", "interact", "CR-001")
    assert run.code == 1 and "only VRs" in run.err
    cli(vr, "--user", "claude", "checkin", VR)
    code, out = qi()
    assert code == 1 and "not checked out" in out["error"]["message"]


@pytest.mark.req("REQ-INT-020")
def test_not_a_git_repository_records_without_commit(qi, vr):
    answer_all(qi, PRE_LOOP + ["run", "works"])
    code, out = qi("--respond", "observed")
    assert code == 0 and out["result"]["recorded"]["commit"] is None
    assert "not in a git repository" in out["result"]["notices"][0]
    assert "commit" not in session(vr)["responses"]["step_actual.1"][0]


@pytest.mark.req("REQ-INT-020")
@pytest.mark.req("REQ-INT-021")
def test_evidence_commit_scope_message_and_hash(qi, vr):
    make_repo(vr)
    answer_all(qi, PRE_LOOP + ["run", "works"])
    (vr / "staged.txt").write_text("evidence\n")
    (vr / "unstaged.txt").write_text("unrelated work\n")
    git(vr, "add", "staged.txt")
    code, out = qi("--respond", "observed")
    assert code == 0, out
    head = git(vr, "rev-parse", "--short", "HEAD").strip()
    assert out["result"]["recorded"]["commit"] == head
    assert session(vr)["responses"]["step_actual.1"][0]["commit"] == head
    assert git(vr, "log", "-1", "--format=%s").strip() == f"[QMS] {VR} | steps.1 | step_actual"
    files = git(vr, "show", "--name-only", "--format=", "HEAD").split()
    assert "staged.txt" in files and f".claude/users/claude/workspace/{VR}.interact" in files
    assert "unstaged.txt" not in files
    assert "?? unstaged.txt" in git(vr, "status", "--short")
    code, out = qi("--compile")
    assert f"| commit: {head}*" in out["result"]["text"]


@pytest.mark.req("REQ-INT-020")
def test_git_failure_is_reported_and_nothing_recorded(qi, vr):
    make_repo(vr)
    hook = vr / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'evidence policy says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    answer_all(qi, PRE_LOOP + ["run", "works"])
    code, out = qi("--respond", "observed")
    assert code == 1 and "evidence policy says no" in out["error"]["message"]
    assert "step_actual.1" not in session(vr)["responses"]
    assert session(vr)["cursor"] == "step_actual"


@pytest.mark.req("REQ-INT-017")
@pytest.mark.req("REQ-INT-018")
@pytest.mark.req("REQ-INT-019")
def test_checkin_read_checkout_cycle(cli, qi, vr):
    answer_all(qi, PRE_LOOP + ["run", "works", "observed", "Pass", "no", "Pass", "Fine"])
    live = cli(vr, "--user", "claude", "read", VR)
    assert "```\nobserved\n```" in live.out  # read compiles the open session
    assert cli(vr, "--user", "claude", "checkin", VR).code == 0
    ws = vr / ".claude/users/claude/workspace"
    assert not (ws / f"{VR}.interact").exists() and not (ws / f"{VR}.md").exists()
    meta_dir = vr / "QMS/.meta/VR"
    saved = json.loads((meta_dir / f"{VR}.source.json").read_text())
    assert saved["cursor"] == "__end__" and "status" not in saved
    draft = (vr / "QMS/CR/CR-001" / f"{VR}-draft.md").read_text()
    assert "### 4.1 Step 1" in draft and "@prompt" not in draft
    assert cli(vr, "--user", "claude", "read", VR).out.rstrip() == draft.rstrip()
    # a legacy-polluted source seeds the next session without its workflow fields
    saved.update(status="IN_EXECUTION", checked_out=False, responsible_user="x")
    (meta_dir / f"{VR}.source.json").write_text(json.dumps(saved))
    assert cli(vr, "--user", "claude", "checkout", VR).code == 0
    seeded = session(vr)
    assert seeded["responses"] == saved["responses"] and "status" not in seeded
    code, out = qi("--reopen", "steps", "--reason", "one more step")
    assert out["result"]["cursor"] == "step_instructions.2"
    answer_all(qi, ["second", "works", "seen", "Pass", "no"])
    assert qi()[1]["result"]["complete"]
    assert cli(vr, "--user", "claude", "checkin", VR).code == 0
    archived = (vr / "QMS/.archive/CR/CR-001" / f"{VR}-v1.0.md").read_text()
    assert archived == draft
    assert "### 4.2 Step 2" in (vr / "QMS/CR/CR-001" / f"{VR}-draft.md").read_text()


def test_checkin_of_an_incomplete_record_says_so(cli, qi, vr):
    answer_all(qi, PRE_LOOP)
    run = cli(vr, "--user", "claude", "--json", "checkin", VR)
    assert run.code == 0
    notices = json.loads(run.out)["result"]["notices"]
    assert notices and "incomplete" in notices[0] and "step_instructions" in notices[0]
    assert cli(vr, "--user", "claude", "checkout", VR).code == 0
    answer_all(qi, ["run", "works", "observed", "Pass", "no", "Pass", "Fine"])
    run = cli(vr, "--user", "claude", "--json", "checkin", VR)
    assert json.loads(run.out)["result"]["notices"] == []  # complete: nothing to say


def close_parent(root: Path) -> str:
    """Post-approve and close CR-001; return the rendered close result."""
    p = Project.open(root)
    ops.checkout(p, "claude", doc_id="CR-001")
    ops.checkin(p, "claude", doc_id="CR-001")
    ops.route(p, "claude", doc_id="CR-001", route_type="review")
    ops.review(p, "qa", doc_id="CR-001", outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id="CR-001", route_type="approval")
    ops.approve(p, "qa", doc_id="CR-001")
    return ops.close(p, "claude", doc_id="CR-001").render()


def test_cascade_close_compiles_the_open_session(cli, qi, vr):
    answer_all(qi, PRE_LOOP + ["run", "works", "observed", "Pass", "no", "Pass", "Fine"])
    assert f"Cascade closed: {VR}" in close_parent(vr)
    closed = (vr / "QMS/CR/CR-001" / f"{VR}.md").read_text()
    assert "```\nobserved\n```" in closed and "> Fine" in closed
    assert not (vr / ".claude/users/claude/workspace" / f"{VR}.interact").exists()
    assert (vr / "QMS/.meta/VR" / f"{VR}.source.json").exists()
    # the closed record, then the signature manifestation block (REQ-SIG-002)
    out = cli(vr, "--user", "claude", "read", VR).out
    assert out.startswith(closed.rstrip()) and "closure" in out[len(closed.rstrip()):]


def test_close_keeps_the_draft_of_a_vr_without_source(vr):
    """No interactive session to compile: the draft the trail binds is closed as it is."""
    (vr / ".claude/users/claude/workspace" / f"{VR}.interact").unlink()
    draft = (vr / "QMS/CR/CR-001" / f"{VR}-draft.md").read_text()
    close_parent(vr)
    closed = (vr / "QMS/CR/CR-001" / f"{VR}.md").read_text()
    assert closed.split("---\n", 2)[2] == draft.split("---\n", 2)[2]


def test_close_refuses_a_draft_edited_outside_qms(vr):
    """A cascade close signs the VR's draft: only as its trail binds it, never a text an
    insider wrote into QMS/ by hand (issue 22: a signature never lands on a text nobody saw)."""
    (vr / ".claude/users/claude/workspace" / f"{VR}.interact").unlink()
    draft = vr / "QMS/CR/CR-001" / f"{VR}-draft.md"
    draft.write_text("---\ntitle: Planted\nrevision_summary: x\n---\n\n# Planted\n")
    with pytest.raises(ProjectError, match="changed outside qms"):
        close_parent(vr)
    assert not (vr / "QMS/CR/CR-001" / f"{VR}.md").exists()


def test_the_controlled_template_is_used(cli, qi, vr):
    template = vr / "QMS/TEMPLATE/TEMPLATE-VR.md"
    text = template.read_text()
    template.write_text(text.replace("## 2. Verification Objective", "## 2. Goal of this check"))
    answer_all(qi, ["EI-1", "Objective"])
    assert "## 2. Goal of this check" in qi("--compile")[1]["result"]["text"]
    template.write_text(text.replace("<!-- @end-loop: steps -->", ""))
    code, out = qi()
    assert code == 1 and out["error"]["code"] == "project"
    assert "TEMPLATE-VR.md is malformed: template line" in out["error"]["message"]


def test_legacy_closed_vr_reads_as_stored(cli, legacy):
    stored = (legacy / "QMS/CR/CR-091/CR-091-ADD-001-VR-001.md").read_text()
    run = cli(legacy, "--user", "claude", "read", "CR-091-ADD-001-VR-001")
    assert run.code == 0 and run.out.rstrip("\n") == stored.rstrip("\n")
