"""Electronic signatures, content hashes, keys, legacy anchoring and the verify adapters."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat

import pytest
from conftest import fill

req = pytest.mark.req


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def verify(q, *ids: str) -> dict:
    run = q("qa", "--json", "verify", *ids)
    result = run.json["result"]
    assert run.code == (0 if result["clean"] else 1)
    return result


@req("REQ-SIG-001")
@req("REQ-SIG-002")
@req("REQ-INTEG-003")
def test_signature_records_bind_signer_meaning_time_and_text(q):
    q.ok("lead", "user", "--add", "rev", "--group", "reviewer")
    q.ok("lead", "user", "--display-name", "rev", "Rita Reviewer")  # signed, like the group
    doc = q.create("SOP", "Signed")
    q.edit(doc, "# Body\n\nText.")
    q.ok("claude", "checkin", doc)
    draft = q.draft(doc).read_text()
    q.review_round(doc, reviewers=("qa", "rev"))
    q.approval_round(doc, approvers=("rev",))
    events = {e["event"]: e for e in q.audit(doc)}
    checkin, review, approve = events["CHECKIN"], events["REVIEW"], events["APPROVE"]
    assert checkin["meaning"] == "authorship" and checkin["signer_name"] == "claude"
    assert checkin["content_sha256"] == sha(draft)
    assert review["meaning"] == "review: recommend" and review["signer_name"] == "Rita Reviewer"
    assert approve["meaning"] == "approval" and approve["signer_name"] == "Rita Reviewer"
    assert approve["content_sha256"] == sha(draft) == sha(q.archive(doc, "0.1").read_text())
    assert approve["ts"].endswith("+00:00")
    assert events["EFFECTIVE"]["content_sha256"] == sha(q.effective(doc).read_text())
    history = q.ok("tu", "history", doc).out
    assert f"signature: Rita Reviewer (rev), approval, {approve['ts']}, sha256:{sha(draft)}" \
        in history
    # read: the manifestation block is appended at read time, never written into the file
    out = q.ok("tu", "read", doc).out
    text = q.effective(doc).read_text()
    assert out.startswith(text.rstrip("\n")) and "Electronic signatures" not in text
    block = out[len(text.rstrip("\n")):]
    assert "Electronic signatures" in block and "Rita Reviewer (rev)  approval  v0.1" in block
    assert f"sha256:{sha(draft)}" in block and "authorship" in block
    res = q.json("tu", "read", doc)["result"]
    assert res["content"] == text and {s["meaning"] for s in res["signatures"]} == {
        "authorship", "review: recommend", "approval"}
    assert "Electronic signatures" not in q.ok("tu", "read", doc, "--version", "0.1").out


@req("REQ-SIG-001")
def test_rejection_request_updates_and_closure_are_signature_records(q):
    doc = q.create("CR", "Executable")
    q.review_round(doc, outcome="--request-updates")
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    q.review_round(doc)
    q.ok("claude", "route", doc, "--approval")
    q.ok("qa", "reject", doc, "--comment", "no")
    meanings = [e.get("meaning") for e in q.audit(doc) if e.get("meaning")]
    assert "review: request-updates" in meanings and meanings[-1] == "rejection"
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    q.review_and_approve(doc)
    q.ok("claude", "release", doc)
    q.post_approved(doc)
    q.ok("claude", "close", doc)
    close = [e for e in q.audit(doc) if e["event"] == "CLOSE"][0]
    assert close["meaning"] == "closure"
    assert close["content_sha256"] == sha(q.effective(doc).read_text())
    assert "closure" in q.ok("tu", "read", doc).out.split("Electronic signatures")[1]
    assert verify(q)["clean"]


@req("REQ-INTEG-004")
def test_keys_private_outside_qms_public_inside(q):
    keys = list((q.root / ".qms/keys").glob("*.key"))
    assert len(keys) == 1
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert (q.root / ".qms/.gitignore").read_text().strip() == "*"
    pub = q.root / "QMS/.keys" / f"{keys[0].stem}.pub"
    assert json.loads(pub.read_text())["algorithm"] == "Ed25519"
    assert not list((q.root / "QMS").rglob("*.key"))


@req("REQ-INTEG-004")
def test_a_copy_without_the_private_key_verifies_but_cannot_change(q, tmp_path, make_q):
    doc = q.create("CR")
    clone = tmp_path / "clone"
    shutil.copytree(q.root, clone, ignore=shutil.ignore_patterns("keys"))
    c = make_q(clone)
    assert verify(c)["clean"]
    run = c.fail("claude", "checkin", doc, match="no signing key")
    assert "qms --user lead key rotate" in run.err
    c.fail("qa", "key", "rotate", match="administrator")
    c.fail("lead", "key", "rotate", match="--without-previous-key")
    c.ok("lead", "key", "rotate", "--without-previous-key")
    c.ok("claude", "checkin", doc)
    result = verify(c)
    assert not result["clean"]
    assert [f["kind"] for f in result["findings"]] == ["key_unendorsed"]


@req("REQ-INTEG-004")
def test_key_rotation_is_audited_and_old_keys_still_verify(q):
    doc = q.create("CR")
    q.ok("lead", "key", "rotate")
    q.ok("claude", "checkin", doc)
    rotate = [json.loads(line) for line in
              (q.root / "QMS/.audit/project.jsonl").read_text().splitlines()][-1]
    assert rotate["event"] == "KEY_ROTATE" and rotate["endorsed"] and rotate["user"] == "lead"
    assert len(list((q.root / "QMS/.keys").glob("*.pub"))) == 2
    result = verify(q)
    assert result["clean"] and len(result["keys"]) == 2
    assert "vouched for" in " ".join(result["notes"])
    assert len(q.ok("qa", "key", "list").out.splitlines()) == 2


@req("REQ-INTEG-005")
def test_legacy_project_verifies_clean_and_its_prefix_is_anchored(cli, legacy):
    run = cli(legacy, "--json", "--user", "qa", "verify")
    assert run.code == 0, run.out
    result = run.json["result"]
    assert result["clean"] and result["legacy_events"] > 0 and result["chained_events"] == 0
    assert any("earlier tool" in n for n in result["notes"])
    assert cli(legacy, "--user", "claude", "checkout", "SOP-001").code == 0
    assert cli(legacy, "--user", "qa", "verify").code == 0
    path = legacy / "QMS/.audit/SOP/SOP-001.jsonl"
    rows = path.read_text().splitlines()
    first_new = next(json.loads(r) for r in rows if '"seq"' in r)
    assert "prefix_sha256" in first_new
    rows[0] = rows[0].replace('"user": "', '"user": "x', 1)
    path.write_text("\n".join(rows) + "\n")
    run = cli(legacy, "--json", "--user", "qa", "verify")
    assert run.code == 1
    assert [(f["doc_id"], f["kind"]) for f in run.json["result"]["findings"]] == [
        ("SOP-001", "legacy_prefix")]


@req("REQ-INTEG-005")
def test_legacy_trails_are_recorded_when_the_first_key_is_made(cli, legacy):
    """Adoption (the first change, which makes the first key) records the hash of every
    trail of the earlier tool: changing one not yet touched, deleting one, or fabricating a
    new unchained trail is then a finding."""
    assert cli(legacy, "--user", "claude", "checkout", "SOP-001").code == 0
    anchor = json.loads((legacy / "QMS/.audit/legacy.json").read_text())
    assert "SOP-002" in anchor and "CR-091" in anchor
    path = legacy / "QMS/.audit/SOP/SOP-002.jsonl"
    path.write_text(path.read_text().replace('"user": "', '"user": "x', 1))
    (legacy / "QMS/.audit/CR/CR-043.jsonl").unlink()
    (legacy / "QMS/.audit/SOP/SOP-050.jsonl").write_text(
        '{"ts": "2026-01-01T00:00:00+00:00", "event": "CREATE", "user": "claude", '
        '"version": "1.0"}\n')
    run = cli(legacy, "--json", "--user", "qa", "verify")
    assert run.code == 1
    found = {(f["doc_id"], f["kind"]) for f in run.json["result"]["findings"]}
    assert {("SOP-002", "legacy_prefix"), ("CR-043", "missing"), ("SOP-050", "legacy")} <= found


@req("REQ-INTEG-006")
def test_verify_is_an_mcp_tool_and_an_operation():
    from qms import operations as ops

    assert "verify" in ops.TOOLS and callable(ops.verify)


@req("REQ-INTEG-006")
def test_verify_during_writes_sees_only_whole_commits(project):
    """verify holds the project lock: a writer racing it never shows a half-applied
    commit (a trail line whose chain line is not written yet)."""
    import threading

    from qms import operations as ops
    from qms.store.project import Project

    p = Project.open(project)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                doc = ops.create(p, "claude", doc_type="CR", title="racing").doc_id
                fill(project, doc)
                ops.route(p, "claude", doc_id=doc, route_type="review")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(6):
            result = ops.verify(p, "qa")
            assert result.clean, result.findings
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors and ops.verify(p, "qa", all_signatures=True).clean


def test_verify_file_paths_agree_with_the_project_layout(project):
    from qms.operations.verify.check import Check
    from qms.store.project import Project

    p = Project(project)
    check = Check(p)
    for doc_id in ("SOP-001", "CR-001", "CR-001-VAR-002", "CR-001-ADD-001-VR-001",
                   "TEMPLATE-CR", "SDLC-QMS-RS", "INV-003"):
        files = check.files(doc_id)
        assert files["trail"] == str(p.audit_path(doc_id))
        assert files["meta"] == str(p.meta_path(doc_id))
        assert files["draft"] == str(p.draft_path(doc_id))
        assert files["effective"] == str(p.effective_path(doc_id))
        assert files["archive"].replace("{v}", "1.2") == str(p.archive_path(doc_id, "1.2"))
    assert check.files("project")["trail"] == str(p.qms / ".audit" / "project.jsonl")
    assert check.rel(str(p.qms / "SOP" / "SOP-001.md")) == "QMS/SOP/SOP-001.md"


@pytest.mark.req("REQ-PK-005")
def test_a_damaged_line_in_a_parent_trail_never_stops_the_cascade_check(tmp_path):
    """The passkey check of a VR closure cascaded from its parent reads the parent's trail
    through verify's one reader: a line that is not UTF-8 JSON is skipped (the trail check
    names it), never an error that ends verify."""
    import importlib

    from qms.operations.init import init
    from qms.operations.verify.check import Check
    from qms.store.project import Project

    cascade = importlib.import_module("qms.operations.verify.passkeys")
    init(tmp_path, yes=True)
    trail = tmp_path / "QMS/.audit/CR/CR-001.jsonl"
    trail.parent.mkdir(parents=True, exist_ok=True)
    close = json.dumps({"event": "CLOSE", "user": "qa", "seq": 5})
    trail.write_bytes(b'{"event": "\xff"}\n' + close.encode() + b"\n")
    check = Check(Project(tmp_path))
    try:
        assert cascade._cascaded(check, "CR-001-VR-001", "qa", 9)
        assert not cascade._cascaded(check, "CR-001-VR-001", "qa", 5)
        assert not cascade._cascaded(check, "CR-001-VR-001", "tu", 9)
    finally:
        check.close()
