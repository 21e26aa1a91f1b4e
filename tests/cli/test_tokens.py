"""`qms token issue|list|revoke`, the token store, and CLI authentication (`auth.cli`)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qms.store import tokens
from qms.store.project import Project

QMS = str(Path(sys.executable).with_name("qms"))


def issue(q, user: str = "qa", *extra: str) -> dict:
    run = q.ok("lead", "--json", "token", "issue", user, *extra)
    return json.loads(run.out)["result"]


def project_events(root: Path, event: str) -> list[dict]:
    lines = (root / "QMS/.audit/project.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == event]


@pytest.mark.req("REQ-AUTH-001")
def test_issue_prints_a_high_entropy_token_once_and_stores_only_its_hash(q, project):
    result = issue(q, "qa", "--label", "container qa", "--expires-days", "30")
    token = result["token"]
    assert token.startswith("qms_") and len(token) >= 32 and tokens.SECRET_RE.match(token)
    assert result["user"] == "qa" and result["label"] == "container qa" and result["expires"]
    store = project / ".qms" / "tokens.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert not str(store.relative_to(project)).startswith("QMS")
    assert tokens.digest(token) in store.read_text()
    for path in project.rglob("*"):  # the secret is in no file at all
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    human = q("lead", "token", "issue", "tu")
    assert human.code == 0 and tokens.SECRET_RE.match(human.out.strip())  # stdout: the secret
    assert "only time" in human.err and human.out.strip() not in human.err
    assert issue(q, "qa")["token"] != token


@pytest.mark.req("REQ-AUTH-002")
def test_list_and_revoke_never_show_secrets_and_are_audited(q, project):
    first, second = issue(q, "qa", "--label", "one"), issue(q, "claude")
    listed = q.json("lead", "token", "list")["result"]["tokens"]
    assert [(t["token_id"], t["user"], t["status"]) for t in listed] == [
        (first["token_id"], "qa", "active"), (second["token_id"], "claude", "active")]
    assert first["token"] not in json.dumps(listed) and "hash" not in listed[0]
    text = q.ok("lead", "token", "list").out
    assert first["token_id"] in text and first["token"] not in text
    q.ok("lead", "token", "revoke", first["token_id"])
    assert tokens.authenticate(Project.open(project), first["token"]) is None
    assert tokens.authenticate(Project.open(project), second["token"]) == "claude"
    listed = q.json("lead", "token", "list")["result"]["tokens"]
    assert listed[0]["status"] == "revoked" and listed[0]["revoked"]
    assert "already revoked" in q.ok("lead", "token", "revoke", first["token_id"]).out
    issued, revoked = project_events(project, "TOKEN_ISSUE"), project_events(project, "TOKEN_REVOKE")
    assert [(e["user"], e["for_user"], e["token_id"]) for e in issued] == [
        ("lead", "qa", first["token_id"]), ("lead", "claude", second["token_id"])]
    assert [(e["user"], e["token_id"]) for e in revoked] == [("lead", first["token_id"])]
    audit_text = (project / "QMS/.audit/project.jsonl").read_text()
    assert first["token"] not in audit_text  # the secret never; its hash vouches for it
    assert [e["token_sha256"] for e in issued] == [tokens.digest(first["token"]),
                                                    tokens.digest(second["token"])]


@pytest.mark.req("REQ-AUTH-002")
@pytest.mark.parametrize("args, match", [
    (("qa", "token", "issue", "qa"), "administrator"),
    (("tu", "token", "list"), "administrator"),
    (("qa", "token", "revoke", "00000000"), "administrator"),
    (("lead", "token", "issue", "ghost"), "Unknown user 'ghost'"),
    (("lead", "token", "issue", "qa", "--expires-days", "0"), "expires-days"),
    (("lead", "token", "issue", "qa", "--label", "a\nb"), "one line"),
    (("lead", "token", "revoke", "deadbeef"), "No token"),
    (("qa", "config", "set", "auth.cli", "required"), "administrator"),
    (("lead", "config", "set", "auth.cli", "maybe"), "must be one of"),
    (("lead", "config", "set", "web.port", "1"), "Unknown setting"),
])
def test_refusals_change_nothing(q, project, digest, args, match):
    before = digest(project)
    q.fail(args[0], *args[1:], match=match)
    assert digest(project) == before


@pytest.mark.req("REQ-AUTH-002")
def test_tokens_and_config_are_never_mcp_tools():
    from qms import operations

    assert not {n for n in operations.TOOLS if n.startswith(("token", "config"))}


@pytest.mark.req("REQ-AUTH-011")
def test_concurrent_issue_and_revoke_keep_the_store_intact(project):
    def run(*args: str) -> dict:
        out = subprocess.run([QMS, "--json", "--user", "lead", "token", *args], cwd=project,
                             capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout)

    with ThreadPoolExecutor(8) as pool:
        issued = list(pool.map(lambda n: run("issue", "qa", "--label", f"t{n}"), range(12)))
    assert all(r["ok"] for r in issued)
    ids = [r["result"]["token_id"] for r in issued]
    with ThreadPoolExecutor(8) as pool:
        revoked = list(pool.map(lambda i: run("revoke", i), ids[:6]))
        more = list(pool.map(lambda n: run("issue", "tu"), range(4)))
    assert all(r["ok"] for r in revoked + more)
    stored = tokens.load(Project.open(project))
    assert len(stored) == 16 and len({t["id"] for t in stored}) == 16
    assert {t["id"] for t in stored if t["revoked"]} == set(ids[:6])
    assert len(project_events(project, "TOKEN_ISSUE")) == 16
    assert len(project_events(project, "TOKEN_REVOKE")) == 6
    root = Project.open(project)
    valid = [r["result"]["token"] for r in issued[6:] + more]
    assert all(tokens.authenticate(root, t) for t in valid)
    assert not any(tokens.authenticate(root, r["result"]["token"]) for r in issued[:6])
    assert not list((project / ".qms").glob(".tokens.json.*.tmp"))


@pytest.mark.req("REQ-AUTH-001")
def test_authenticate_sees_changes_at_once_and_refuses_malformed_secrets(q, project):
    root = Project.open(project)
    token = issue(q, "qa")["token"]
    assert tokens.authenticate(root, token) == "qa"
    assert tokens.authenticate(root, token + "\n") == "qa"
    for bad in ("", "qms_", token[:-1], token[:-1] + ("A" if token[-1] != "A" else "B"),
                token.replace("qms_", "xyz_"), None, 42):
        assert tokens.authenticate(root, bad) is None, bad
    q.ok("lead", "token", "revoke", token.split("_")[1])
    assert tokens.authenticate(root, token) is None  # cached store re-read after the change


# -- CLI authentication -------------------------------------------------------------------

@pytest.fixture
def secured(q, project, monkeypatch, tmp_path):
    """A project with auth.cli = required; returns {user: token file}."""
    for name in ("QMS_TOKEN", "QMS_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    files = {}
    for user in ("lead", "claude", "qa"):
        files[user] = tmp_path / f"{user}.token"
        files[user].write_text(issue(q, user)["token"] + "\n")
    q.ok("lead", "config", "set", "auth.cli", "required")
    return files


@pytest.mark.req("REQ-AUTH-012")
def test_setting_auth_cli_needs_the_admin_to_hold_a_token_and_is_audited(q, project, digest):
    before = digest(project)
    q.fail("lead", "config", "set", "auth.cli", "required", match="token issue lead")
    assert digest(project) == before
    issue(q, "lead")
    q.ok("lead", "config", "set", "auth.cli", "required")
    config = json.loads((project / "qms.config.json").read_text())
    assert config["settings"] == {"auth.cli": "required"} and config["version"] == "1.0"
    [event] = project_events(project, "CONFIG_SET")
    assert (event["user"], event["key"], event["value"], event["previous"]) == (
        "lead", "auth.cli", "required", "off")


@pytest.mark.req("REQ-AUTH-012")
def test_required_cli_auth_refuses_without_a_matching_token(q, project, secured, digest,
                                                           monkeypatch):
    before = digest(project)
    q.fail("claude", "create", "CR", "--title", "No token", match="requires CLI authentication")
    q.fail("claude", "--token-file", str(secured["qa"]), "create", "CR", "--title", "x",
           match="belongs to 'qa'")
    monkeypatch.setenv("QMS_TOKEN", "qms_0badf00d_" + "A" * 43)
    q.fail("claude", "create", "CR", "--title", "x", match="not valid")
    q.fail("qa", "status", "SOP-001", match="not valid")  # queries too
    monkeypatch.delenv("QMS_TOKEN")
    q.fail("claude", "--token-file", str(secured["claude"].with_name("none")), "inbox",
           match="Cannot read the token file")
    assert digest(project) == before
    q.ok("claude", "--token-file", str(secured["claude"]), "create", "CR", "--title", "Mine")
    monkeypatch.setenv("QMS_TOKEN_FILE", str(secured["qa"]))
    q.ok("qa", "inbox")
    monkeypatch.delenv("QMS_TOKEN_FILE")
    monkeypatch.setenv("QMS_TOKEN", secured["qa"].read_text().strip())
    q.ok("qa", "status", "CR-001")
    config = q(None, "mcp-config")  # commands that act as nobody need no token
    assert config.code == 0 and json.loads(config.out)["mcpServers"]["qms"]  # notes: stderr


@pytest.mark.req("REQ-AUTH-012")
def test_revoked_token_stops_the_cli_at_once_and_auth_can_be_turned_off(q, project, secured,
                                                                       monkeypatch):
    claude_id = secured["claude"].read_text().split("_")[1]
    q.ok("lead", "--token-file", str(secured["lead"]), "token", "revoke", claude_id)
    q.fail("claude", "--token-file", str(secured["claude"]), "inbox", match="not valid")
    q.ok("lead", "--token-file", str(secured["lead"]), "config", "set", "auth.cli", "off")
    q.ok("claude", "inbox")
    assert [e["value"] for e in project_events(project, "CONFIG_SET")] == ["required", "off"]


@pytest.mark.req("REQ-AUTH-012")
def test_cli_auth_over_real_processes(project, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QMS_")}

    def qms(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([QMS, *args], cwd=project, capture_output=True, text=True,
                              timeout=60, env={**env, **extra})

    token = json.loads(qms("--json", "--user", "lead", "token", "issue", "lead").stdout)
    secret = tmp_path / "lead.token"
    secret.write_text(token["result"]["token"] + "\n")
    assert qms("--user", "lead", "config", "set", "auth.cli", "required").returncode == 0
    refused = qms("--user", "lead", "user", "--add", "eve", "--group", "reviewer")
    assert refused.returncode == 1 and refused.stderr.startswith("Error: This project requires")
    assert not (project / ".claude/agents/eve.md").exists()
    done = qms("--user", "lead", "user", "--add", "eve", "--group", "reviewer",
               QMS_TOKEN_FILE=str(secret))
    assert done.returncode == 0, done.stderr
    assert "auth.cli = required" in qms("--user", "lead", "config", "get",
                                        QMS_TOKEN=token["result"]["token"]).stdout.splitlines()


@pytest.mark.req("REQ-AUTH-012")
def test_cli_loads_no_token_code_when_the_setting_is_off(project):
    probe = ("import sys\nfrom qms.cli.main import main\ncode = main(sys.argv[1:])\n"
             "sys.exit(97 if {'qms.store.tokens', 'hashlib', 'hmac'} & set(sys.modules) "
             "else code)")
    run = subprocess.run([sys.executable, "-c", probe, "--user", "qa", "status", "SOP-001"],
                         cwd=project, capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "QMS_TOKEN"})
    assert run.returncode == 0, run.stderr
