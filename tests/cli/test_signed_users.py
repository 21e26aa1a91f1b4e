"""Users and groups are signed state (issue 22, points 1 and 3): who is an administrator, a
quality user or a reviewer, and whom a group-based passkey policy covers, is decided by the
signed user registry of the project trail only. The agent files' `group:` and
`display_name:` lines are its cache: a hand edit, a user file added by hand or a deleted one
is refused by every command and named by `verify`. Attacks run through the real `qms`
process (tests/conftest.py `qms_proc`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qms import operations as ops
from qms.store import audit, users
from qms.store.project import Project

REFUSED = "it was changed outside qms. Nothing was changed."


def events(root: Path, *kinds: str) -> list[dict]:
    trail = root / "QMS/.audit/project.jsonl"
    lines = trail.read_text().splitlines() if trail.exists() else []
    return [e for e in map(json.loads, lines) if not kinds or e["event"] in kinds]


def agent(root: Path, name: str) -> Path:
    return root / ".claude" / "agents" / f"{name}.md"


def edit_group(root: Path, name: str, old: str, new: str) -> str:
    """Hand-edit a user's ``group:`` line; returns the original text (to restore)."""
    text = agent(root, name).read_text()
    agent(root, name).write_text(text.replace(f"group: {old}", f"group: {new}"))
    return text


def verify(qms_proc, root: Path, *extra: str) -> dict:
    run = qms_proc(root, *(extra or ("--user", "qa")), "--json", "verify")
    return json.loads(run.out)["result"]


def findings(result: dict, kind: str = "user") -> list[str]:
    return [f"{f['where']}: {f['message']}" for f in result["findings"] if f["kind"] == kind]


# -- the registry and the user commands --------------------------------------------------

@pytest.mark.req("REQ-USER-006")
def test_init_records_the_seed_users_in_a_signed_event(project):
    (adopt,) = events(project, "USER_ADOPT")
    assert adopt["users"] == {"qa": "quality", "tu": "reviewer"}
    assert adopt["source"] == "qms init" and adopt["seq"] == 2  # right after the first key
    assert users.registry(Project.open(project)).groups == adopt["users"]


@pytest.mark.req("REQ-USER-003", "REQ-USER-006", "REQ-USER-007")
def test_add_move_rename_and_remove_are_signed_events_that_keep_the_files_in_step(q, digest):
    q.ok("lead", "user", "--add", "ini", "--group", "initiator", "--display-name", "Ina Itor")
    q.ok("lead", "user", "--group", "ini", "quality")
    q.ok("lead", "user", "--display-name", "ini", "Ina O'Neil")
    text = agent(q.root, "ini").read_text()
    assert "group: quality" in text and "display_name: 'Ina O''Neil'" in text
    listed = q.json("lead", "user", "--list")["result"]
    assert {"name": "ini", "group": "quality", "display_name": "Ina O'Neil"} in listed["users"]
    assert listed["problems"] == []
    q.ok("lead", "user", "--remove", "ini")
    assert not agent(q.root, "ini").exists()
    kinds = [e["event"] for e in events(q.root, "USER_ADD", "USER_GROUP", "USER_NAME",
                                         "USER_REMOVE")]
    assert kinds == ["USER_ADD", "USER_GROUP", "USER_NAME", "USER_REMOVE"]
    snapshots = [e["users"] for e in events(q.root) if "users" in e]
    assert snapshots[-1] == {"qa": "quality", "tu": "reviewer"}   # every event: the whole
    assert snapshots[-2] == {"qa": "quality", "tu": "reviewer", "ini": "quality"}  # registry
    assert all(e["user"] == "lead" and e["seq"] for e in events(q.root, *users.EVENTS)[1:])
    q.fail("ini", "inbox", match="Unknown user 'ini'")
    doc = q.create("CR")
    q.ok("claude", "route", doc, "--review", "--assign", "tu")
    before = digest(q.root)
    q.fail("lead", "user", "--remove", "tu", match="tu still has 1 task(s) waiting")
    q.fail("lead", "user", "--group", "ghost", "quality", match="Unknown user 'ghost'")
    q.fail("lead", "user", "--remove", "lead", match="built-in administrator")
    q.fail("lead", "user", "--group", "qa", "boss", code=2, match="invalid choice")
    q.fail("lead", "user", "--display-name", "qa", "two\nlines", match="one line")
    q.fail("qa", "user", "--group", "tu", "quality", match="Permission denied")
    q.fail("lead", "user", "--remove", "qa", "--group", "tu", code=2)
    assert digest(q.root) == before
    assert ops.verify(Project.open(q.root), "qa").clean


@pytest.mark.req("REQ-SIG-001", "REQ-USER-007")
def test_the_printed_name_of_a_signature_is_the_signed_display_name(q):
    q.ok("lead", "user", "--display-name", "qa", "Quinn Assurance")
    text = agent(q.root, "qa").read_text()
    agent(q.root, "qa").write_text(text.replace("Quinn Assurance", "Jane Doe"))
    q.fail("claude", "create", "CR", "--title", "x", match="display_name 'Jane Doe'")
    agent(q.root, "qa").write_text(text)
    doc = q.create("CR")
    q.ok("claude", "route", doc, "--review")
    q.ok("qa", "review", doc, "--recommend", "--comment", "ok")
    review = next(e for e in q.audit(doc) if e["event"] == "REVIEW")
    assert review["signer_name"] == "Quinn Assurance"


# -- attack 2: self-promotion through the unsigned group line ------------------------------

@pytest.mark.req("REQ-USER-008")
def test_self_promotion_by_editing_ones_group_line_is_refused_and_named(q, qms_proc,
                                                                        tmp_path):
    """An initiator with a token of its own, under `auth.cli required`, edits its group to
    administrator and asks for a token and an enrollment link for qa (accepted on d6fe49d):
    refused, nothing recorded, verify names the file; put back, the chain still says
    initiator."""
    q.ok("lead", "user", "--add", "ini", "--group", "initiator")
    secrets = {}
    for name in ("lead", "ini"):
        secrets[name] = tmp_path / f"{name}.token"
        secrets[name].write_text(q.json("lead", "token", "issue", name)["result"]["token"])
    q.ok("lead", "--token-file", str(secrets["lead"]), "config", "set", "auth.cli", "required")
    trail = (q.root / "QMS/.audit/project.jsonl").read_bytes()
    original = edit_group(q.root, "ini", "initiator", "administrator")
    for args in (("token", "issue", "qa"), ("passkey", "enroll", "qa"), ("status", "SOP-001")):
        run = qms_proc(q.root, "--user", "ini", "--token-file", secrets["ini"], *args)
        assert run.code == 1 and REFUSED in run.err and ".claude/agents/ini.md" in run.err, run
        assert run.out == ""
    run = qms_proc(q.root, "--user", "ini", "--token-file", secrets["ini"],  # the user
                   "user", "--group", "ini", "administrator")  # commands: the chain decides
    assert run.code == 1 and "requires group administrator; ini is in group initiator" \
        in run.err
    as_lead = ("--user", "lead", "--token-file", str(secrets["lead"]))
    result = verify(qms_proc, q.root, *as_lead)  # verify runs and names the file
    assert findings(result) == [".claude/agents/ini.md: .claude/agents/ini.md says group "
                                "administrator, but the signed user registry says initiator: "
                                "changed outside qms"]
    agent(q.root, "ini").write_text(original)  # put back: the chain never said otherwise
    run = qms_proc(q.root, "--user", "ini", "--token-file", secrets["ini"], "token", "issue",
                   "qa")
    assert run.code == 1 and "requires group administrator" in run.err
    assert (q.root / "QMS/.audit/project.jsonl").read_bytes() == trail
    assert verify(qms_proc, q.root, *as_lead)["clean"]


@pytest.mark.req("REQ-USER-008")
def test_a_group_edited_and_restored_between_two_calls_changes_nothing(q, qms_proc):
    q.ok("lead", "user", "--add", "ini", "--group", "initiator")
    doc = q.create("CR")
    q.ok("claude", "route", doc, "--review", "--assign", "qa")
    q.ok("qa", "review", doc, "--recommend", "--comment", "ok")
    q.ok("claude", "route", doc, "--approval", "--assign", "qa")
    original = edit_group(q.root, "ini", "initiator", "quality")
    run = qms_proc(q.root, "--user", "ini", "assign", doc, "--assignees", "ini")
    assert run.code == 1 and REFUSED in run.err
    agent(q.root, "ini").write_text(original)
    run = qms_proc(q.root, "--user", "ini", "assign", doc, "--assignees", "ini")
    assert run.code == 1 and "requires group quality; ini is in group initiator" in run.err
    assert q.meta(doc)["pending_assignees"] == ["qa"]
    assert verify(qms_proc, q.root)["clean"]


@pytest.mark.req("REQ-USER-008")
def test_a_user_file_added_by_hand_is_refused_by_every_command(q, qms_proc, digest):
    agent(q.root, "eve").write_text("---\nname: eve\ngroup: administrator\n---\n\n# Eve\n")
    before = digest(q.root)
    for user, args in (("eve", ("token", "issue", "qa")), ("qa", ("status", "SOP-001")),
                       ("claude", ("create", "CR", "--title", "x")), ("qa", ("inbox",))):
        run = qms_proc(q.root, "--user", user, *args)
        assert run.code == 1 and ".claude/agents/eve.md declares user eve" in run.err, run
        assert "no USER_ADD" in run.err and "delete it" in run.err
    assert digest(q.root) == before
    assert findings(verify(qms_proc, q.root)) == [
        ".claude/agents/eve.md: .claude/agents/eve.md declares user eve (group administrator), "
        "whom the signed user registry does not have (no USER_ADD): changed outside qms"]
    listed = q.json("lead", "user", "--list")["result"]
    assert "eve" not in [u["name"] for u in listed["users"]] and listed["problems"]
    # an administrator who wants eve adds her: the prompt stays, the group is the registry's
    q.ok("lead", "user", "--add", "eve", "--group", "reviewer")
    assert agent(q.root, "eve").read_text().startswith("---\nname: eve\ngroup: reviewer\n")
    assert "# Eve" in agent(q.root, "eve").read_text()
    assert verify(qms_proc, q.root)["clean"]


@pytest.mark.req("REQ-USER-008")
def test_a_deleted_user_file_is_refused_and_named(q, qms_proc):
    saved = agent(q.root, "tu").read_text()
    agent(q.root, "tu").unlink()
    run = qms_proc(q.root, "--user", "claude", "inbox")
    assert run.code == 1 and ".claude/agents/tu.md is gone" in run.err
    assert "git checkout -- .claude/agents/tu.md" in run.err
    assert findings(verify(qms_proc, q.root)) == [
        ".claude/agents/tu.md: .claude/agents/tu.md is gone, but the signed user registry has "
        "user tu (group reviewer): changed outside qms"]
    q.ok("lead", "user", "--group", "tu", "reviewer")  # an administrator rewrites the cache
    assert "group: reviewer" in agent(q.root, "tu").read_text()
    q.ok("claude", "inbox")
    agent(q.root, "tu").write_text(saved)
    assert verify(qms_proc, q.root)["clean"]


@pytest.mark.req("REQ-USER-008")
def test_a_user_file_replaced_by_a_link_is_refused_never_followed(q, qms_proc, tmp_path):
    elsewhere = tmp_path / "qa.md"
    elsewhere.write_text(agent(q.root, "qa").read_text())  # says exactly the same
    agent(q.root, "qa").unlink()
    agent(q.root, "qa").symlink_to(elsewhere)
    run = qms_proc(q.root, "--user", "qa", "inbox")
    assert run.code == 1 and ".claude/agents/qa.md cannot be read" in run.err
    assert "symbolic link" in run.err
    assert findings(verify(qms_proc, q.root))


@pytest.mark.req("REQ-USER-008")
def test_a_forged_user_event_is_refused(q, qms_proc, digest):
    """A USER_GROUP line appended by hand (not in the chain), then one with a chain entry
    of its own (no valid signature): refused, named by verify."""
    trail = q.root / "QMS/.audit/project.jsonl"
    chain = q.root / "QMS/.audit/chain.jsonl"
    head = chain.read_bytes().splitlines()[-1]
    forged = {"ts": events(q.root)[-1]["ts"], "event": "USER_GROUP", "user": "lead",
              "name": "tu", "group": "administrator",
              "users": {"qa": "quality", "tu": "administrator"}, "display_names": {},
              "prev_sha256": None, "seq": json.loads(head)["seq"] + 1}
    saved = trail.read_bytes(), chain.read_bytes()
    original = edit_group(q.root, "tu", "reviewer", "administrator")  # the cache agrees
    with trail.open("a") as f:
        f.write(json.dumps(forged) + "\n")
    run = qms_proc(q.root, "--user", "tu", "status", "SOP-001")
    assert run.code == 1 and "is not in the signed audit chain" in run.err
    import hashlib

    line = json.dumps(forged).encode()
    with chain.open("a") as f:
        f.write(json.dumps({"seq": forged["seq"], "doc_id": "project",
                            "event_sha256": hashlib.sha256(line).hexdigest(),
                            "prev_sha256": hashlib.sha256(head).hexdigest(),
                            "key_id": json.loads(head)["key_id"], "sig": "00" * 64}) + "\n")
    before = digest(q.root)
    run = qms_proc(q.root, "--user", "tu", "token", "issue", "qa")
    assert run.code == 1 and "valid signature" in run.err
    assert digest(q.root) == before
    assert not verify(qms_proc, q.root)["clean"]
    trail.write_bytes(saved[0])
    chain.write_bytes(saved[1])
    agent(q.root, "tu").write_text(original)
    assert verify(qms_proc, q.root)["clean"]


# -- attack 3: a passkey policy by group switched off by a hand edit ----------------------

@pytest.mark.req("REQ-PK-008")
def test_a_policy_naming_a_group_a_hand_edit_empties_still_covers_its_users(q, qms_proc):
    q.ok("lead", "config", "set", "signatures.passkey", "quality")
    doc = q.create("CR")
    q.ok("claude", "route", doc, "--review", "--assign", "qa")
    original = edit_group(q.root, "qa", "quality", "reviewer")  # the group is empty by hand
    run = qms_proc(q.root, "--user", "qa", "review", doc, "--recommend", "--comment", "x")
    assert run.code == 1 and REFUSED in run.err
    p = Project.open(q.root)  # the group is the chain's, whatever the file says
    assert users.group_of(p, "qa", check_files=False) == "quality"
    assert findings(verify(qms_proc, q.root, "--user", "lead")) == [
        ".claude/agents/qa.md: .claude/agents/qa.md says group reviewer, but the signed user "
        "registry says quality: changed outside qms"]
    agent(q.root, "qa").write_text(original)
    run = qms_proc(q.root, "--user", "qa", "review", doc, "--recommend", "--comment", "x")
    assert run.code == 1 and "signs only with a passkey" in run.err
    assert q.meta(doc)["pending_assignees"] == ["qa"]


def _unguarded_review(root: Path, doc: str, user: str) -> None:
    """A REVIEW without a passkey, signed with the project key, as a qms without the policy
    gate (d6fe49d with a hand-edited group) recorded it."""
    p = Project.open(root)
    with p.transaction() as tx:
        meta = json.loads(p.meta_path(doc).read_text())
        meta["pending_assignees"] = []
        meta["review_outcomes"] = {user: "recommend"}
        meta["status"] = "REVIEWED" if meta["status"] == "IN_REVIEW" else "PRE_REVIEWED"
        from qms.store import meta as meta_store

        meta_store.save(tx, p, meta)
        audit.append(tx, p, doc, "REVIEW", user, meta["version"],
                     content=p.draft_path(doc).read_text(), outcome="recommend", comment="ok")
        audit.append(tx, p, doc, "STATUS_CHANGE", user, meta["version"],
                     from_status="IN_PRE_REVIEW", to_status=meta["status"])


@pytest.mark.req("REQ-PK-008")
def test_verify_finds_a_signature_the_policy_covered_without_a_passkey(q, qms_proc):
    q.ok("lead", "user", "--add", "ini", "--group", "initiator")
    q.ok("lead", "user", "--add", "rev", "--group", "reviewer")
    first, second, third = q.create("CR"), q.create("CR"), q.create("CR")
    for doc in (first, second, third):
        q.ok("claude", "route", doc, "--review", "--assign", "qa", "rev")
    _unguarded_review(q.root, first, "qa")     # before any policy: fine
    q.ok("lead", "config", "set", "signatures.passkey", "quality,rev")
    _unguarded_review(q.root, second, "qa")    # by group, at that point of the chain
    _unguarded_review(q.root, third, "rev")    # by name
    q.ok("lead", "user", "--group", "qa", "reviewer")  # qa leaves the group afterwards
    result = verify(qms_proc, q.root)
    found = findings(result, "passkey")
    assert len(found) == 2, found
    assert f"REVIEW by qa (seq" in found[0] and "covered qa then by group (quality)" in found[0]
    assert found[0].startswith(f"QMS/.audit/CR/{second}.jsonl:")
    assert "covered rev then by name (rev)" in found[1] and third in found[1]


# -- adoption: an existing project takes its agent files into the chain once --------------

@pytest.fixture
def earlier(tmp_path):
    """A project of the earlier tool (no key, no registry): tests/data/legacy-layouts."""
    source = Path(__file__).parents[1] / "data" / "legacy-layouts"
    root = tmp_path / "earlier"
    shutil.copytree(source, root)
    return root


@pytest.mark.req("REQ-USER-009")
def test_an_existing_project_adopts_its_agent_files_once_in_its_first_change(earlier,
                                                                             qms_proc):
    files = sorted(p.stem for p in (earlier / ".claude/agents").glob("*.md"))
    assert not any(e["event"] == "USER_ADOPT" for e in events(earlier))
    note = [n for n in verify(qms_proc, earlier)["notes"] if "user registry" in n]
    assert note and "until the project's next change adopts them" in note[0]
    run = qms_proc(earlier, "--user", "lead", "namespace", "add", "ADOPT")
    assert run.code == 0, run.err
    (adopt,) = events(earlier, "USER_ADOPT")
    assert adopt["user"] == "lead" and adopt["source"] == "agent files"
    assert sorted(adopt["users"]) == [f for f in files if f not in ("lead", "claude")]
    kinds = [e["event"] for e in events(earlier) if "seq" in e]
    assert kinds[:3] == ["KEY_CREATE", "USER_ADOPT", "NAMESPACE_ADD"]
    result = verify(qms_proc, earlier)
    assert any(f"users adopted from the agent files at seq {adopt['seq']} by lead" in n
               for n in result["notes"]), result["notes"]
    assert not findings(result)
    qms_proc(earlier, "--user", "lead", "namespace", "add", "AGAIN")
    assert len(events(earlier, "USER_ADOPT")) == 1  # once


@pytest.mark.req("REQ-USER-009")
def test_an_adopted_project_refuses_a_file_edited_afterwards(earlier, qms_proc):
    assert qms_proc(earlier, "--user", "lead", "namespace", "add", "ADOPT").code == 0
    (adopt,) = events(earlier, "USER_ADOPT")
    name, group = next((n, g) for n, g in sorted(adopt["users"].items()) if g != "administrator")
    edit_group(earlier, name, group, "administrator")
    run = qms_proc(earlier, "--user", name, "inbox")
    assert run.code == 1 and f".claude/agents/{name}.md says group administrator" in run.err
    assert findings(verify(qms_proc, earlier))


# -- issue 22 point 8: a torn last line names the trail --------------------------------------

@pytest.mark.req("REQ-HARD-006")
def test_a_torn_last_line_names_the_trail_and_the_line_not_the_metadata(q, qms_proc, digest):
    doc = q.create("CR")
    q.ok("claude", "checkin", doc)
    trail = q.root / "QMS" / ".audit" / "CR" / f"{doc}.jsonl"
    data = trail.read_bytes()
    trail.write_bytes(data[:-200])  # the last event (with the state it recorded) torn
    lines = len(trail.read_bytes().splitlines())
    before = digest(q.root)
    for user, args in (("claude", ("checkout", doc)), ("qa", ("status", doc))):
        run = qms_proc(q.root, "--user", user, *args)
        assert run.code == 1 and run.out == ""
        assert f"The audit trail of {doc} (QMS/.audit/CR/{doc}.jsonl) is damaged at line " \
               f"{lines}" in run.err, run.err
        assert "metadata" in run.err and "edited outside qms. Nothing" not in run.err
    assert digest(q.root) == before
