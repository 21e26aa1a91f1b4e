"""`qms passkey enroll|list|revoke` and the `signatures.passkey` policy through the real CLI
(the browser half is tests/web/test_passkeys.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import fill
from qms import operations as ops
from qms.store.project import Project


def project_events(root) -> list[dict]:
    return [json.loads(x) for x in (root / "QMS" / ".audit" / "project.jsonl").read_text()
            .splitlines()]


@pytest.mark.req("REQ-PK-001")
def test_enroll_prints_a_one_time_link_and_stores_only_its_hash(cli, project):
    run = cli(project, "--user", "lead", "passkey", "enroll", "qa", "--minutes", "5")
    assert run.code == 0, run.err
    link = run.out.strip()
    assert link.startswith("http://localhost:8000/passkey/enroll?code=")
    assert "One-time enrollment link for qa" in run.err
    code = link.split("code=", 1)[1]
    assert not (project / ".qms" / "passkey-invites.json").exists()  # the trail holds it
    event = project_events(project)[-1]
    assert (event["event"], event["for_user"], event["user"]) == ("PASSKEY_INVITE", "qa", "lead")
    assert code not in json.dumps(event)
    assert event["code_sha256"] == hashlib.sha256(code.encode()).hexdigest()
    assert event["invite"] == event["code_sha256"][:16] and event["expires"] > event["ts"]
    run = cli(project, "--user", "lead", "passkey", "enroll", "qa", "--url",
              "http://localhost:8123")
    assert run.out.startswith("http://localhost:8123/passkey/enroll?code=")
    cli(project, "--user", "lead", "config", "set", "signatures.origin", "http://localhost:9")
    assert cli(project, "--user", "lead", "passkey", "enroll", "qa").out.startswith(
        "http://localhost:9/passkey/enroll?code=")


@pytest.mark.req("REQ-PK-001")
@pytest.mark.parametrize("args, message", [
    (("--user", "qa", "passkey", "enroll", "qa"), "requires group administrator"),
    (("--user", "lead", "passkey", "enroll", "nobody"), "Unknown user 'nobody'"),
    (("--user", "lead", "passkey", "enroll", "qa", "--minutes", "0"), "--minutes"),
    (("--user", "lead", "passkey", "enroll", "qa", "--url", "http://x/y?z"), "--url"),
    (("--user", "lead", "passkey", "revoke", "qa", "0123456789abcdef"), "has no passkey"),
    (("--user", "lead", "passkey", "revoke", "qa", "../../etc"), "Not a credential ID"),
    (("--user", "qa", "passkey", "revoke", "qa", "0123456789abcdef"), "administrator"),
])
def test_bad_passkey_commands_are_refused_and_change_nothing(cli, project, args, message):
    before = (project / "QMS" / ".audit" / "project.jsonl").read_bytes()
    run = cli(project, *args)
    assert run.code == 1 and message in run.err
    assert (project / "QMS" / ".audit" / "project.jsonl").read_bytes() == before
    assert not (project / ".qms" / "passkey-invites.json").exists()


@pytest.mark.req("REQ-PK-001")
def test_list_is_empty_then_flags_a_hand_made_credential(cli, project):
    assert cli(project, "--user", "qa", "passkey", "list").out.strip() == "No passkeys."
    folder = project / "QMS" / ".passkeys"
    folder.mkdir()
    (folder / "0123456789abcdef.json").write_text(json.dumps({
        "cred": "0123456789abcdef", "user": "qa", "credential_id": "AAAA", "public_key": "AAAA",
        "aaguid": "00000000-0000-0000-0000-000000000000", "rp_id": "localhost"}))
    run = cli(project, "--json", "--user", "qa", "passkey", "list")
    (row,) = run.json["result"]["passkeys"]
    assert "no PASSKEY_ENROLL event" in row["problem"]
    from qms.operations.identity import passkeys as pk
    assert pk.active(Project.open(project)) == []          # never used to check a signature
    result = ops.verify(Project.open(project), "qa")
    assert any(f["kind"] == "passkey" for f in result.findings)


@pytest.mark.req("REQ-PK-001")
def test_a_hand_written_enroll_event_and_file_are_never_trusted(cli, project):
    """An agent with a shell (no private project key) writes a matching PASSKEY_ENROLL line
    and credential file for a software key of its own: the server never uses it."""
    from qms.operations.identity import passkeys as pk

    entry = {"cred": "0123456789abcdef", "user": "qa", "credential_id": "AAAA",
             "public_key": "AAAA", "aaguid": "00000000-0000-0000-0000-000000000000",
             "rp_id": "localhost"}
    with open(project / "QMS" / ".audit" / "project.jsonl", "a") as fh:
        fh.write(json.dumps({"ts": "2026-01-01T00:00:00+00:00", "event": "PASSKEY_ENROLL",
                             **entry}) + "\n")
    folder = project / "QMS" / ".passkeys"
    folder.mkdir()
    forged = {**entry, "vouch": {"key_id": "0123456789abcdef", "sig": "00" * 64}}
    (folder / "0123456789abcdef.json").write_text(json.dumps(forged))
    assert pk.active(Project.open(project)) == []
    run = cli(project, "--json", "--user", "qa", "passkey", "list")
    (row,) = run.json["result"]["passkeys"]
    assert "not vouched for by this project's signing key" in row["problem"]
    assert not ops.verify(Project.open(project), "qa").clean   # the line is not in the chain


@pytest.mark.req("REQ-PK-002")
@pytest.mark.parametrize("value, ok", [("qa", True), ("qa,quality", True), ("", True),
                                       ("QA", False), ("qa, tu", False), ("qa;rm", False)])
def test_policy_setting_is_validated(cli, project, value, ok):
    run = cli(project, "--user", "lead", "config", "set", "signatures.passkey", value)
    assert (run.code == 0) is ok, run.err
    if not ok:
        assert "comma-separated list of users or groups" in run.err


@pytest.mark.req("REQ-PK-002")
@pytest.mark.parametrize("key, value", [("signatures.rp_id", "http://x"),
                                        ("signatures.passkey_aaguids", "not-an-aaguid"),
                                        ("signatures.origin", "localhost:8000")])
def test_other_passkey_settings_are_validated(cli, project, key, value):
    run = cli(project, "--user", "lead", "config", "set", key, value)
    assert run.code == 1 and key in run.err


@pytest.mark.req("REQ-PK-002")
def test_policy_users_and_groups_sign_only_with_a_passkey(cli, project):
    c = lambda *a: cli(project, *a)  # noqa: E731
    c("--user", "claude", "create", "CR", "--title", "Change")
    c("--user", "claude", "checkin", "CR-001")
    c("--user", "claude", "route", "CR-001", "--review", "--assign", "qa", "tu")
    c("--user", "lead", "config", "set", "signatures.passkey", "quality")   # qa's group
    run = c("--user", "qa", "review", "CR-001", "--recommend", "--comment", "ok")
    assert run.code == 1
    assert "qa signs only with a passkey" in run.err
    assert "http://localhost:8000/documents/CR-001" in run.err
    assert c("--user", "tu", "review", "CR-001", "--recommend", "--comment", "ok").code == 0
    c("--user", "lead", "config", "set", "signatures.passkey", "")          # policy off
    assert c("--user", "qa", "review", "CR-001", "--recommend", "--comment", "ok").code == 0
    c("--user", "claude", "route", "CR-001", "--approval", "--assign", "qa")
    c("--user", "lead", "config", "set", "signatures.passkey", "qa")
    before = (project / "QMS" / ".meta" / "CR" / "CR-001.json").read_bytes()
    for args in (("approve", "CR-001"), ("reject", "CR-001", "--comment", "no")):
        run = c("--user", "qa", "--json", *args)
        assert run.json["error"]["code"] == "permission_denied"
        assert run.json["error"]["details"]["url"] == "http://localhost:8000/documents/CR-001"
    assert (project / "QMS" / ".meta" / "CR" / "CR-001.json").read_bytes() == before


@pytest.mark.req("REQ-PK-002")
def test_a_forged_assertion_object_is_refused(project):
    """Only qms.operations.identity.passkeys makes an Assertion: any other object is refused."""
    from qms.errors import PermissionDenied

    p = Project.open(project)
    doc = ops.create(p, "claude", doc_type="CR", title="x").doc_id
    fill(project, doc)
    ops.checkin(p, "claude", doc_id=doc)
    ops.route(p, "claude", doc_id=doc, route_type="review", assignees=["qa"])
    fake = {"user": "qa", "cred": "0123456789abcdef", "evidence": {}}
    with pytest.raises(PermissionDenied, match="must come from the browser"):
        ops.review(p, "qa", doc_id=doc, outcome="recommend", comment="x", passkey=fake)


@pytest.mark.req("REQ-PK-007")
def test_every_passkey_signature_binds_the_text_the_operation_records(project):
    """review, approve, reject and close compare the assertion's version and content hash
    with the text they record, inside their transaction (``passkeys.gate``): an assertion
    over another text, or another version, is refused with the reload message and records
    nothing."""
    import hashlib

    from qms.errors import Conflict
    from qms.operations.identity import passkeys as pk

    p = Project.open(project)
    body = "---\ntitle: x\nrevision_summary: r\n---\n\n# x\n\nText.\n"
    def to_approval(doc: str) -> None:
        ops.route(p, "claude", doc_id=doc, route_type="review", assignees=["qa"])
        ops.review(p, "qa", doc_id=doc, outcome="recommend", comment="ok")
        ops.route(p, "claude", doc_id=doc, route_type="approval", assignees=["qa"])
    docs = {}
    for name in ("review", "approval", "closure"):
        docs[name] = ops.create(p, "claude", doc_type="CR", title=name).doc_id
        ops.checkin(p, "claude", doc_id=docs[name], content=body)
    ops.route(p, "claude", doc_id=docs["review"], route_type="review", assignees=["qa"])
    to_approval(docs["approval"])
    closing = docs["closure"]
    to_approval(closing)
    ops.approve(p, "qa", doc_id=closing)
    ops.release(p, "claude", doc_id=closing)
    to_approval(closing)
    ops.approve(p, "qa", doc_id=closing)
    assert ops.status(p, "claude", doc_id=closing).status == "POST_APPROVED"
    other = hashlib.sha256(b"a text nobody was shown").hexdigest()

    def stale(user: str, doc: str, meaning: str, **change: str) -> pk.Assertion:
        version, text = pk.signing_text(p, doc, meaning)
        inputs = {"doc_id": doc, "version": version, "meaning": meaning,
                  "content_sha256": hashlib.sha256(text.encode()).hexdigest(), **change}
        return pk.Assertion({"user": user, "cred": "0" * 16}, inputs, {}, 1)
    calls = [(ops.review, "qa", "review", "review: recommend",
              {"outcome": "recommend", "comment": "ok"}),
             (ops.approve, "qa", "approval", "approval", {}),
             (ops.reject, "qa", "approval", "rejection", {"comment": "no"}),
             (ops.close, "claude", "closure", "closure", {})]
    for op, user, doc_of, meaning, kw in calls:
        doc = docs[doc_of]
        before = p.audit_path(doc).read_bytes()
        for change in ({"content_sha256": other}, {"version": "9.9"}):
            with pytest.raises(Conflict, match="text changed since you opened this page"):
                op(p, user, doc_id=doc, passkey=stale(user, doc, meaning, **change), **kw)
        assert p.audit_path(doc).read_bytes() == before, op.__name__
