"""Meta, tokens and settings are caches of the signed trail: a hand edit is refused by the
operations that would act on it, and `qms verify` names it (attacks through the real CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Run, fill_created

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
    if args[:1] == ("create",):  # the author fills the template before routing
        fill_created(root, args, Run(0, proc.stdout, proc.stderr))
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


# -- tokens ------------------------------------------------------------------------------
FORGED = "qms_0badf00d_" + "B" * 43


def issue(project: Path, user: str) -> str:
    return ok(project, "lead", "token", "issue", user).strip()


def with_token(token: str) -> dict:
    return {"QMS_TOKEN": token}


def store(project: Path) -> tuple[Path, dict]:
    path = project / ".qms" / "tokens.json"
    return path, json.loads(path.read_text())


def plant_token(project: Path, user: str = "lead") -> None:
    """The attack: a record of one's own secret's hash, appended to the token store."""
    from qms.store import tokens

    path, data = store(project)
    data["tokens"].append({"id": "0badf00d", "user": user, "label": "", "hash":
                           tokens.digest(FORGED), "created": "2026-01-01T00:00:00+00:00",
                           "created_by": "lead", "expires": None, "revoked": None})
    path.write_text(json.dumps(data))


def require_cli_auth(project: Path) -> str:
    lead = issue(project, "lead")
    ok(project, "lead", "config", "set", "auth.cli", "required")
    return lead


@req("REQ-AUTH-013")
def test_token_planted_in_the_store_is_refused_by_the_cli_and_named(project):
    lead = require_cli_auth(project)
    plant_token(project)
    proc = run(project, "--user", "lead", "user", "--list", env=with_token(FORGED))
    assert proc.returncode == 1 and "not valid" in proc.stderr, proc.stdout
    ok(project, "lead", "user", "--list", env=with_token(lead))  # the real one still works
    listed = json.loads(ok(project, "lead", "--json", "token", "list", env=with_token(lead)))
    status = {t["token_id"]: t["status"] for t in listed["result"]["tokens"]}
    assert status["0badf00d"] == "unvouched" and status[lead.split("_")[1]] == "active"
    code, result = verify_as(project)
    assert code == 1
    assert any(f["kind"] == "token" and "0badf00d" in f["message"] for f in result["findings"])


_QA_TOKENS: dict[str, str] = {}


@pytest.fixture
def project(project):  # noqa: F811 - the shared fixture, plus a qa token for verify
    _QA_TOKENS[str(project)] = issue(project, "qa")
    return project


@req("REQ-AUTH-013")
def test_unrevoking_a_token_by_editing_the_store_is_refused(project):
    lead = require_cli_auth(project)
    claude = issue_with(project, lead, "claude")
    token_id = claude.split("_")[1]
    ok(project, "lead", "token", "revoke", token_id, env=with_token(lead))
    path, data = store(project)
    for t in data["tokens"]:
        if t["id"] == token_id:
            t["revoked"] = None
            t.pop("revoked_by", None)
    path.write_text(json.dumps(data))
    proc = run(project, "--user", "claude", "inbox", env=with_token(claude))
    assert proc.returncode == 1 and "not valid" in proc.stderr
    code, result = verify_as(project)
    assert code == 1 and any(f["kind"] == "token" and token_id in f["message"]
                             for f in result["findings"])


@req("REQ-AUTH-013")
def test_unsigned_token_issue_appended_to_the_trail_is_refused(project):
    from qms.store import tokens

    lead = require_cli_auth(project)
    plant_token(project)
    trail = project / "QMS/.audit/project.jsonl"
    last = json.loads(trail.read_text().splitlines()[-1])
    forged = {"ts": "2026-01-01T00:00:00+00:00", "event": "TOKEN_ISSUE", "user": "lead",
              "token_id": "0badf00d", "for_user": "lead", "label": "", "expires": None,
              "token_sha256": tokens.digest(FORGED), "prev_sha256": "0" * 64,
              "seq": last["seq"] + 1}
    with trail.open("a") as f:
        f.write(json.dumps(forged) + "\n")
    proc = run(project, "--user", "lead", "user", "--list", env=with_token(FORGED))
    assert proc.returncode == 1 and "not valid" in proc.stderr
    ok(project, "lead", "user", "--list", env=with_token(lead))
    assert verify_as(project)[0] == 1


def issue_with(project: Path, admin: str, user: str) -> str:
    return ok(project, "lead", "token", "issue", user, env=with_token(admin)).strip()


def verify_as(project: Path) -> tuple[int, dict]:
    proc = run(project, "--user", "qa", "--json", "verify",
               env=with_token(_QA_TOKENS[str(project)]))
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["result"]


@req("REQ-AUTH-013")
def test_tokens_issued_through_qms_verify_clean_and_authenticate(project):
    lead = require_cli_auth(project)
    claude = issue_with(project, lead, "claude")
    ok(project, "claude", "inbox", env=with_token(claude))
    assert verify_as(project)[0] == 0


# -- settings ----------------------------------------------------------------------------
@req("REQ-AUTH-014")
def test_switching_cli_auth_off_by_editing_the_config_is_refused_and_named(project):
    require_cli_auth(project)
    config = project / "qms.config.json"
    data = json.loads(config.read_text())
    data["settings"]["auth.cli"] = "off"
    config.write_text(json.dumps(data))
    proc = run(project, "--user", "lead", "user", "--list")  # no token
    assert proc.returncode == 1, proc.stdout
    assert "edited outside qms" in proc.stderr and "qms verify" in proc.stderr
    code, result = verify_as(project)
    assert code == 1 and any(f["kind"] == "setting" and "auth.cli" in f["message"]
                             for f in result["findings"])


@req("REQ-AUTH-014")
def test_a_config_set_appended_by_hand_does_not_switch_auth_off(project):
    require_cli_auth(project)
    config = project / "qms.config.json"
    data = json.loads(config.read_text())
    data["settings"]["auth.cli"] = "off"
    config.write_text(json.dumps(data))
    trail = project / "QMS/.audit/project.jsonl"
    last = json.loads(trail.read_text().splitlines()[-1])
    with trail.open("a") as f:
        f.write(json.dumps({"ts": "2026-01-01T00:00:00+00:00", "event": "CONFIG_SET",
                            "user": "lead", "key": "auth.cli", "value": "off",
                            "previous": "required", "prev_sha256": "0" * 64,
                            "seq": last["seq"] + 1}) + "\n")
    proc = run(project, "--user", "lead", "user", "--list")
    assert proc.returncode == 1 and "qms verify" in proc.stderr, proc.stdout


@req("REQ-AUTH-014")
def test_config_without_config_set_events_keeps_defaults(project):
    ok(project, "lead", "user", "--list")
    assert verify(project)[0] == 0
    config = project / "qms.config.json"
    data = json.loads(config.read_text())
    data.setdefault("settings", {})["auth.cli"] = "required"  # stricter than the trail
    config.write_text(json.dumps(data))
    proc = run(project, "--user", "lead", "user", "--list")
    assert proc.returncode == 1 and "edited outside qms" in proc.stderr


# -- forged events -----------------------------------------------------------------------
def forged_event(project: Path, doc: str, **fields) -> dict:
    trail = project / f"QMS/.audit/CR/{doc}.jsonl"
    last = json.loads(trail.read_text().splitlines()[-1])
    return {**last, "ts": "2026-01-01T00:00:00+00:00", "event": "ASSIGN", "user": "claude",
            "assignees": ["tu"], "comment": "", **fields}


@req("REQ-INTEG-009")
def test_event_appended_by_hand_to_vouch_for_edited_meta_is_refused(project):
    from qms.store import meta as meta_store

    meta = routed(project)
    forge_round(meta)
    trail = project / "QMS/.audit/CR/CR-002.jsonl"
    last = json.loads(trail.read_text().splitlines()[-1])
    forged = forged_event(project, "CR-002", state_sha256=meta_store.state_sha256(
        meta.read_text()), seq=last["seq"] + 1)
    with trail.open("a") as f:
        f.write(json.dumps(forged) + "\n")
    proc = run(project, "--user", "tu", "review", "CR-002", "--recommend", "--comment", "ok")
    assert proc.returncode == 1 and "not in the signed audit chain" in proc.stderr, proc.stdout
    assert verify(project, "CR-002")[0] == 1


@req("REQ-INTEG-009")
def test_chain_entry_appended_by_hand_is_never_signed_over(project):
    """A forged event plus a chain entry with a made-up signature: the next change would
    vouch for it through the hash links, so qms refuses to extend such a chain."""
    from qms.domain import integrity

    routed(project)
    chain = project / "QMS/.audit/chain.jsonl"
    head = json.loads(chain.read_text().splitlines()[-1])
    trail = project / "QMS/.audit/CR/CR-001.jsonl"
    forged = json.dumps(forged_event(project, "CR-001", seq=head["seq"] + 1))
    with trail.open("a") as f:
        f.write(forged + "\n")
    entry = {"seq": head["seq"] + 1, "doc_id": "CR-001",
             "event_sha256": integrity.sha256_text(forged),
             "prev_sha256": integrity.sha256_text(chain.read_text().splitlines()[-1]),
             "key_id": head["key_id"], "sig": "00" * 64}
    with chain.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    before = chain.read_text()
    proc = run(project, "--user", "claude", "create", "CR", "--title", "Next")
    assert proc.returncode == 1 and "not validly signed" in proc.stderr, proc.stdout
    assert chain.read_text() == before
    assert verify(project)[0] == 1


@req("REQ-INTEG-009")
def test_a_long_running_writer_still_checks_a_head_it_did_not_write(project):
    """The authority skips re-checking a chain head it signed itself (same bytes, same key),
    never one appended behind its back, nor one it signed once and that was then edited."""
    from qms import operations as ops
    from qms.domain import integrity
    from qms.errors import ProjectError
    from qms.store.project import Project

    p = Project.open(project)
    for n in range(3):                                   # one process, one commit after another
        ops.create(p, "claude", doc_type="CR", title=f"Served {n}")
    chain = project / "QMS/.audit/chain.jsonl"
    rows = chain.read_text().splitlines()
    head = json.loads(rows[-1])
    for forged in ({**head, "seq": head["seq"] + 1, "prev_sha256": integrity.sha256_text(rows[-1])},
                   {**head, "event_sha256": "00" * 32}):  # appended; the last line edited
        kept = chain.read_text()
        chain.write_text("\n".join(rows[:-1] + [rows[-1]] * (forged["seq"] > head["seq"])
                                   + [json.dumps(forged)]) + "\n")
        with pytest.raises(ProjectError, match="not validly signed"):
            ops.create(p, "claude", doc_type="CR", title="Next")
        chain.write_text(kept)
    ops.create(p, "claude", doc_type="CR", title="Once restored")   # the real head is good


@req("REQ-INTEG-009")
def test_unchained_line_appended_to_look_legacy_is_refused(project):
    meta = routed(project)
    forge_round(meta)
    trail = project / "QMS/.audit/CR/CR-002.jsonl"
    with trail.open("a") as f:  # "the earlier tool wrote this": no chain fields, no state hash
        f.write(json.dumps({"timestamp": "2026-01-01", "action": "assign", "user": "claude",
                            "details": {"version": "0.1"}}) + "\n")
    proc = run(project, "--user", "tu", "review", "CR-002", "--recommend", "--comment", "ok")
    assert proc.returncode == 1 and "not in the signed audit chain" in proc.stderr, proc.stdout
    assert verify(project, "CR-002")[0] == 1


@req("REQ-INTEG-009")
def test_a_damaged_last_line_does_not_switch_the_check_off(project):
    meta = routed(project)
    forge_round(meta)
    trail = project / "QMS/.audit/CR/CR-002.jsonl"
    with trail.open("a") as f:
        f.write('{"ts": "2026-01-01", "event": "CHEC}\n')  # not JSON, yet ends with }
    for args in (("--user", "tu", "review", "CR-002", "--recommend", "--comment", "ok"),
                 ("--user", "tu", "status", "CR-002")):
        proc = run(project, *args)
        assert proc.returncode == 1 and "edited outside qms" in proc.stderr, (args, proc.stdout)
