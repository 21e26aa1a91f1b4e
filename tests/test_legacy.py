"""An existing project of the earlier tool opens and keeps working unchanged.

Every test runs on a fresh writable copy of ``../shared/fixtures/legacy-project`` (the real
data: SOPs at v21.0, closed CRs up to CR-091, an SDLC-QMS namespace that is not in
``sdlc_namespaces.json``, VR sources in ``.meta``/``.audit`` that are not documents).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import LEGACY, tree_digest

pytestmark = pytest.mark.skipif(not LEGACY.is_dir(), reason="legacy fixture not available")

AGENTS = sorted(p.stem for p in (LEGACY / ".claude" / "agents").glob("*.md"))
ALL_USERS = [*AGENTS, "lead", "claude"]


# -- what the legacy project holds (derived from the files, not hard-coded) -------------------
def legacy_docs(root: Path = LEGACY) -> dict[str, dict]:
    """doc_id -> meta for every document: every .meta/**/*.json except VR sources and the
    namespace registry."""
    docs = {}
    for path in sorted((root / "QMS" / ".meta").rglob("*.json")):
        if path.name.endswith(".source.json") or path.name == "sdlc_namespaces.json":
            continue
        meta = json.loads(path.read_text(encoding="utf-8"))
        assert meta["doc_id"] == path.stem, path
        docs[path.stem] = meta
    return docs


def archived_versions(root: Path, doc_id: str) -> dict[str, Path]:
    """version -> archive file for ``doc_id`` (anywhere under QMS/.archive)."""
    pattern = re.compile(rf"^{re.escape(doc_id)}-v(\d+\.\d+)\.md$")
    found = {}
    for path in (root / "QMS" / ".archive").rglob(f"{doc_id}-v*.md"):
        m = pattern.match(path.name)
        if m:
            found[m.group(1)] = path
    return found


def doc_file(root: Path, doc_id: str, draft: bool = False) -> Path | None:
    suffix = "-draft.md" if draft else ".md"
    hits = [p for p in (root / "QMS").rglob(f"{doc_id}{suffix}") if ".archive" not in p.parts]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


def audit_lines(root: Path, doc_id: str) -> list[dict]:
    path = root / "QMS" / ".audit" / DOCS[doc_id]["doc_type"] / f"{doc_id}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def state_digest(root: Path) -> dict[str, str]:
    """tree_digest without the tool's private state folder (.qms/: lock, journal)."""
    return {k: v for k, v in tree_digest(root).items() if not k.startswith(".qms/")}


DOCS = legacy_docs()


def test_fixture_shape():
    """Guard the assumptions below: the fixture has the documents these tests rely on."""
    assert {"SOP-001", "CR-091", "SDLC-QMS-RS", "SDLC-QMS-RTM",
            "CR-091-ADD-001-VR-001", "CR-091-ADD-001-VAR-001"} <= set(DOCS)
    assert DOCS["SOP-001"]["version"] == "21.0" and DOCS["SOP-001"]["status"] == "EFFECTIVE"
    ns = json.loads((LEGACY / "QMS/.meta/sdlc_namespaces.json").read_text())
    assert "QMS" not in ns
    assert (LEGACY / "QMS/.audit/VR/CR-091-ADD-001-VR-001.source.jsonl").is_file()
    assert list((LEGACY / "QMS/.meta/VR").glob("*.source.json"))
    assert not (LEGACY / ".claude" / "users").exists()


# -- queries on every document -----------------------------------------------------------------
@pytest.mark.req("REQ-QRY-002")
def test_status_every_document(legacy, cli):
    before = state_digest(legacy)
    for doc_id, meta in DOCS.items():
        r = cli(legacy, "--json", "--user", "qa", "status", doc_id)
        assert r.code == 0, (doc_id, r.err)
        res = r.json["result"]
        assert (res["doc_id"], res["version"], res["status"]) == \
            (doc_id, meta["version"], meta["status"]), doc_id
        assert res["effective_version"] == meta.get("effective_version")
        assert res["location"] != "-", doc_id
        assert (legacy / res["location"]).is_file()
        # the human rendering works too
        r = cli(legacy, "--user", "qa", "status", doc_id)
        assert r.code == 0 and "Status:" in r.out and meta["status"] in r.out
    assert state_digest(legacy) == before


@pytest.mark.req("REQ-QRY-001")
def test_read_current_archived_and_draft_of_every_document(legacy, cli):
    before = state_digest(legacy)
    n_archived = 0
    for doc_id, meta in DOCS.items():
        # current: the effective/closed file, else the draft
        current = doc_file(legacy, doc_id) or doc_file(legacy, doc_id, draft=True)
        assert current is not None, doc_id
        r = cli(legacy, "--json", "--user", "qa", "read", doc_id)
        assert r.code == 0, (doc_id, r.err)
        assert r.json["result"]["content"] == current.read_text(encoding="utf-8"), doc_id
        r = cli(legacy, "--user", "qa", "read", doc_id)
        assert r.code == 0 and r.out.rstrip("\n") == current.read_text(encoding="utf-8").rstrip("\n")

        # every archived version, byte for byte
        for version, path in sorted(archived_versions(legacy, doc_id).items()):
            r = cli(legacy, "--json", "--user", "qa", "read", doc_id, "--version", version)
            assert r.code == 0, (doc_id, version, r.err)
            assert r.json["result"]["content"] == path.read_text(encoding="utf-8"), \
                (doc_id, version, r.json["result"]["source"])
            assert r.json["result"]["version"] == version
            n_archived += 1

        # the draft, where there is one
        draft = doc_file(legacy, doc_id, draft=True)
        r = cli(legacy, "--json", "--user", "qa", "read", doc_id, "--draft")
        if draft is not None:
            assert r.code == 0 and r.json["result"]["content"] == draft.read_text(encoding="utf-8")
        else:
            assert r.code == 1 and r.json["error"]["code"] == "not_found"
    assert n_archived >= 200  # the fixture's archive: 228 files
    assert state_digest(legacy) == before


@pytest.mark.req("REQ-QRY-003")
def test_history_every_document(legacy, cli):
    before = state_digest(legacy)
    for doc_id, meta in DOCS.items():
        expected = audit_lines(legacy, doc_id)
        r = cli(legacy, "--json", "--user", "qa", "history", doc_id)
        assert r.code == 0, (doc_id, r.err)
        events = r.json["result"]["events"]
        assert len(events) == len(expected), doc_id
        for got, raw in zip(events, expected):
            if "event" in raw:  # our schema: passed through unchanged
                assert got == raw
            else:               # the earlier tool's seed schema is normalised
                assert got["event"] == str(raw["action"]).upper() and got["user"] == raw["user"]
        r = cli(legacy, "--user", "qa", "history", doc_id)
        assert r.code == 0 and r.out.startswith(f"History of {doc_id} ({len(expected)} events)")
    assert state_digest(legacy) == before


@pytest.mark.req("REQ-QRY-004")
def test_comments_every_document(legacy, cli):
    before = state_digest(legacy)
    total = 0
    for doc_id, meta in DOCS.items():
        expected = [e for e in audit_lines(legacy, doc_id)
                    if e.get("event") in ("REVIEW", "REJECT") and e.get("comment")]
        r = cli(legacy, "--json", "--user", "qa", "comments", doc_id)
        assert r.code == 0, (doc_id, r.err)
        got = r.json["result"]["comments"]
        assert [c["comment"] for c in got] == [e["comment"] for e in expected], doc_id
        total += len(got)
        # filtered by version: exactly that version's comments
        for version in {e["version"] for e in expected}:
            r = cli(legacy, "--json", "--user", "qa", "comments", doc_id, "--version", version)
            assert r.code == 0
            assert len(r.json["result"]["comments"]) == \
                sum(1 for e in expected if e["version"] == version)
        assert cli(legacy, "--user", "qa", "comments", doc_id).code == 0
    assert total > 0
    assert state_digest(legacy) == before


@pytest.mark.req("REQ-QRY-005")
def test_inbox_and_workspace_every_user(legacy, cli):
    before = state_digest(legacy)
    assert AGENTS == ["bu", "qa", "tu_scene", "tu_sim", "tu_sketch", "tu_ui"]
    for user in ALL_USERS:
        r = cli(legacy, "--json", "--user", user, "inbox")
        assert r.code == 0, (user, r.err)
        assert r.json["result"]["tasks"] == []
        r = cli(legacy, "--user", user, "inbox")
        assert r.code == 0 and "Inbox is empty" in r.out
        r = cli(legacy, "--json", "--user", user, "workspace")
        assert r.code == 0 and r.json["result"]["documents"] == []
    assert state_digest(legacy) == before


@pytest.mark.req("REQ-USER-002")
def test_users_come_from_the_agent_files(legacy, cli):
    r = cli(legacy, "--json", "--user", "lead", "user", "--list")
    assert r.code == 0
    groups = {u["name"]: u["group"] for u in r.json["result"]["users"]}
    assert groups["qa"] == "quality" and groups["tu_ui"] == "reviewer"
    assert groups["lead"] == groups["claude"] == "administrator"
    r = cli(legacy, "--user", "nobody", "status", "SOP-001")
    assert r.code == 1 and "Unknown user" in r.err


# -- numbering continues ---------------------------------------------------------------------
@pytest.mark.req("REQ-DOC-004")
def test_create_cr_continues_numbering(legacy, cli):
    r = cli(legacy, "--json", "--user", "claude", "create", "CR", "--title", "Next change")
    assert r.code == 0, r.err
    assert r.json["result"]["doc_id"] == "CR-092"
    assert (legacy / "QMS/CR/CR-092/CR-092-draft.md").is_file()
    meta = json.loads((legacy / "QMS/.meta/CR/CR-092.json").read_text())
    assert (meta["version"], meta["status"], meta["responsible_user"]) == ("0.1", "DRAFT", "claude")
    r = cli(legacy, "--json", "--user", "claude", "create", "CR", "--title", "And the next")
    assert r.json["result"]["doc_id"] == "CR-093"
    # other types continue too
    r = cli(legacy, "--json", "--user", "claude", "create", "SOP", "--title", "New SOP")
    assert r.json["result"]["doc_id"] == "SOP-008"
    r = cli(legacy, "--json", "--user", "claude", "create", "INV", "--title", "New INV")
    assert r.json["result"]["doc_id"] == "INV-009"


@pytest.mark.req("REQ-DOC-005")
def test_create_child_continues_numbering_in_legacy_folder(legacy, cli):
    # CR-091 is CLOSED, so an addendum may be created; CR-091-ADD-001 already exists
    r = cli(legacy, "--json", "--user", "claude", "create", "ADD", "--parent", "CR-091",
            "--title", "Second addendum")
    assert r.code == 0, r.err
    assert r.json["result"]["doc_id"] == "CR-091-ADD-002"
    assert (legacy / "QMS/CR/CR-091/CR-091-ADD-002-draft.md").is_file()


# -- revising an effective SOP ---------------------------------------------------------------
@pytest.mark.req("REQ-WF-020")
@pytest.mark.req("REQ-WF-006")
@pytest.mark.req("REQ-WF-002")
def test_sop_revision_keeps_21_0_in_force_then_22_0_takes_effect(legacy, cli):
    effective = legacy / "QMS/SOP/SOP-001.md"
    original = effective.read_text(encoding="utf-8")
    audit_path = legacy / "QMS/.audit/SOP/SOP-001.jsonl"
    original_audit = audit_path.read_bytes()

    r = cli(legacy, "--json", "--user", "claude", "checkout", "SOP-001")
    assert r.code == 0, r.err
    assert r.json["result"]["version"] == "21.1" and r.json["result"]["status"] == "DRAFT"

    # 21.0 stays in force: plain read shows it, status says so
    r = cli(legacy, "--json", "--user", "qa", "read", "SOP-001")
    assert r.json["result"]["content"] == original and r.json["result"]["version"] == "21.0"
    assert effective.read_text(encoding="utf-8") == original
    st = cli(legacy, "--json", "--user", "qa", "status", "SOP-001").json["result"]
    assert (st["version"], st["status"], st["effective_version"]) == ("21.1", "DRAFT", "21.0")
    r = cli(legacy, "--json", "--user", "qa", "read", "SOP-001", "--version", "21.0")
    assert r.json["result"]["content"] == original

    # edit the workspace copy, check in: the draft changes, the effective file does not
    ws = legacy / ".claude/users/claude/workspace/SOP-001.md"
    assert ws.read_text(encoding="utf-8") == original
    revised = original + "\n\nRevision 21.1 marker.\n"
    ws.write_text(revised, encoding="utf-8")
    assert cli(legacy, "--user", "claude", "checkin", "SOP-001").code == 0
    draft = cli(legacy, "--json", "--user", "qa", "read", "SOP-001", "--draft").json["result"]
    assert "Revision 21.1 marker." in draft["content"] and draft["version"] == "21.1"
    assert cli(legacy, "--json", "--user", "qa", "read", "SOP-001").json["result"]["content"] \
        == original

    # review -> approval -> 22.0 EFFECTIVE
    assert cli(legacy, "--user", "claude", "route", "SOP-001", "--review").code == 0
    inbox = cli(legacy, "--json", "--user", "qa", "inbox").json["result"]["tasks"]
    assert [(t["doc_id"], t["workflow_type"], t["version"]) for t in inbox] == \
        [("SOP-001", "REVIEW", "21.1")]
    r = cli(legacy, "--user", "qa", "review", "SOP-001", "--recommend", "--comment", "Fine.")
    assert r.code == 0, r.err
    assert cli(legacy, "--user", "claude", "route", "SOP-001", "--approval").code == 0
    r = cli(legacy, "--json", "--user", "qa", "approve", "SOP-001")
    assert r.code == 0, r.err
    assert (r.json["result"]["version"], r.json["result"]["status"]) == ("22.0", "EFFECTIVE")

    meta = json.loads((legacy / "QMS/.meta/SOP/SOP-001.json").read_text())
    assert (meta["version"], meta["status"], meta["effective_version"]) == \
        ("22.0", "EFFECTIVE", "22.0")
    assert meta["responsible_user"] is None and meta["checked_out"] is False
    assert meta.get("approval_date") == "2026-01-08"  # unknown legacy keys are preserved
    assert not (legacy / "QMS/SOP/SOP-001-draft.md").exists()
    assert "Revision 21.1 marker." in effective.read_text(encoding="utf-8")
    # 21.0 (the superseded effective text) and 21.1 (the approved draft) are archived
    archive = legacy / "QMS/.archive/SOP"
    assert (archive / "SOP-001-v21.0.md").read_text(encoding="utf-8") == original
    assert "Revision 21.1 marker." in (archive / "SOP-001-v21.1.md").read_text(encoding="utf-8")
    r = cli(legacy, "--json", "--user", "qa", "read", "SOP-001", "--version", "21.0")
    assert r.json["result"]["content"] == original
    # the audit trail only grew
    assert audit_path.read_bytes().startswith(original_audit)
    new = [json.loads(x) for x in audit_path.read_bytes()[len(original_audit):].splitlines()]
    assert [(e["event"], e["version"], e.get("to_status")) for e in new] == [
        ("STATUS_CHANGE", "21.1", "DRAFT"), ("CHECKOUT", "21.1", None),
        ("CHECKIN", "21.1", None),
        ("STATUS_CHANGE", "21.1", "IN_REVIEW"), ("ROUTE_REVIEW", "21.1", None),
        ("REVIEW", "21.1", None), ("STATUS_CHANGE", "21.1", "REVIEWED"),
        ("STATUS_CHANGE", "21.1", "IN_APPROVAL"), ("ROUTE_APPROVAL", "21.1", None),
        ("APPROVE", "21.1", None), ("STATUS_CHANGE", "22.0", "APPROVED"),
        ("EFFECTIVE", "22.0", None), ("STATUS_CHANGE", "22.0", "EFFECTIVE")]
    assert new[1]["from_version"] == "21.0" and new[-2]["from_version"] == "21.1"
    assert cli(legacy, "--json", "--user", "qa", "inbox").json["result"]["tasks"] == []


def test_untouched_files_are_byte_identical_after_work(legacy, cli):
    """Run a realistic session; every file the session had no business touching is unchanged,
    and every audit trail it touched only grew."""
    before = state_digest(legacy)
    audits_before = {p: p.read_bytes() for p in (legacy / "QMS/.audit").rglob("*.jsonl")}

    steps = [
        ("claude", "create", "CR", "--title", "Change"),
        ("claude", "checkout", "SOP-002"),
        ("claude", "checkin", "SOP-002"),
        ("claude", "route", "SOP-002", "--review"),
        ("qa", "review", "SOP-002", "--request-updates", "--comment", "Please fix."),
        ("claude", "checkout", "SDLC-QMS-RTM"),
    ]
    for user, *args in steps:
        r = cli(legacy, "--user", user, *args)
        assert r.code == 0, (args, r.err)
    touched_docs = {"CR-092", "SOP-002", "SDLC-QMS-RTM"}

    after = state_digest(legacy)
    # only a touched document's meta, audit trail and current files may change; its archive
    # (and everything else) must not
    may_change = {f"{doc}{suffix}" for doc in touched_docs
                  for suffix in (".json", ".jsonl", ".md", "-draft.md")}
    for rel, digest in before.items():
        if Path(rel).name in may_change and ".archive" not in Path(rel).parts:
            continue
        assert after.get(rel) == digest, f"{rel} changed or vanished"
    # touched audit trails: the old bytes are an exact prefix
    for path, old in audits_before.items():
        assert path.read_bytes().startswith(old), path
    # nothing unexpected appeared: every new file belongs to a touched document, the ID
    # counter, a user's workspace/inbox, or the signed audit chain (its first key, the
    # project-wide chain and the project trail recording the key's creation)
    for rel in set(after) - set(before):
        assert any(doc in rel for doc in touched_docs) or rel.startswith(
            ("QMS/.meta/.seq/", ".claude/users/", "QMS/.keys/", ".qms/")) or rel in (
            "QMS/.audit/chain.jsonl", "QMS/.audit/project.jsonl", "QMS/.audit/legacy.json"), rel


def test_read_only_commands_change_nothing(legacy, cli):
    before = tree_digest(legacy)
    for args in (("status", "SOP-001"), ("read", "SOP-001"), ("history", "CR-091"),
                 ("comments", "SOP-001"), ("inbox",), ("workspace",), ("namespace", "list"),
                 ("read", "SOP-001", "--version", "20.1")):
        assert cli(legacy, "--user", "qa", *args).code == 0, args
    assert tree_digest(legacy) == before
    assert not (legacy / ".qms").exists() or not list((legacy / ".qms").glob("journal*"))


# -- VR sources are never documents ------------------------------------------------------------
def test_vr_source_files_are_not_documents(legacy, cli):
    before = state_digest(legacy)
    stray_audit = legacy / "QMS/.audit/VR/CR-091-ADD-001-VR-001.source.jsonl"
    for bad in ("CR-091-ADD-001-VR-001.source", "CR-091-ADD-001-VR-001.SOURCE.JSON"):
        for cmd in ("status", "read", "history", "comments"):
            r = cli(legacy, "--json", "--user", "qa", cmd, bad)
            assert r.code == 1 and r.json["error"]["code"] == "invalid", (cmd, bad)
    # the VR's history is its own trail only, not the stray .source.jsonl
    real = audit_lines(legacy, "CR-091-ADD-001-VR-001")
    r = cli(legacy, "--json", "--user", "qa", "history", "CR-091-ADD-001-VR-001")
    assert r.json["result"]["events"] == real
    stray = [json.loads(x) for x in stray_audit.read_text().splitlines() if x.strip()]
    assert len(real) != len(stray) or real != stray
    # the VR still reads as its closed document, status is its own meta
    r = cli(legacy, "--json", "--user", "qa", "status", "CR-091-ADD-001-VR-001")
    assert r.json["result"]["status"] == "CLOSED" and r.json["result"]["version"] == "1.2"
    # nothing scans them in as documents: a new child of the same parent continues from the
    # documents only, and no query lists them
    for user in ALL_USERS:
        assert cli(legacy, "--json", "--user", user, "workspace").json["result"]["documents"] == []
    assert state_digest(legacy) == before


# -- the SDLC-QMS namespace (present as a folder, not registered) ---------------------------
@pytest.mark.req("REQ-DOC-014")
def test_sdlc_qms_documents_work_without_registry_entry(legacy, cli):
    r = cli(legacy, "--json", "--user", "qa", "namespace", "list")
    assert r.code == 0
    assert {"QMS", "CQ", "WFE"} <= set(r.json["result"]["namespaces"])
    registry = legacy / "QMS/.meta/sdlc_namespaces.json"
    registry_bytes = registry.read_bytes()

    for doc_id, version in (("SDLC-QMS-RS", "22.0"), ("SDLC-QMS-RTM", "27.0")):
        st = cli(legacy, "--json", "--user", "qa", "status", doc_id).json["result"]
        assert (st["version"], st["status"], st["doc_type"]) == \
            (version, "EFFECTIVE", doc_id[5:])
        effective = legacy / f"QMS/SDLC-QMS/{doc_id}.md"
        r = cli(legacy, "--json", "--user", "qa", "read", doc_id)
        assert r.json["result"]["content"] == effective.read_text(encoding="utf-8")

    # a singleton cannot be created twice
    r = cli(legacy, "--json", "--user", "claude", "create", "QMS-RS", "--title", "again")
    assert r.code == 1 and r.json["error"]["code"] == "conflict"

    # full revision cycle of the RS
    original = (legacy / "QMS/SDLC-QMS/SDLC-QMS-RS.md").read_text(encoding="utf-8")
    r = cli(legacy, "--json", "--user", "claude", "checkout", "SDLC-QMS-RS")
    assert r.code == 0 and r.json["result"]["version"] == "22.1"
    assert cli(legacy, "--user", "claude", "route", "SDLC-QMS-RS", "--review").code == 0
    assert cli(legacy, "--user", "qa", "review", "SDLC-QMS-RS", "--recommend",
               "--comment", "ok").code == 0
    assert cli(legacy, "--user", "claude", "route", "SDLC-QMS-RS", "--approval").code == 0
    r = cli(legacy, "--json", "--user", "qa", "approve", "SDLC-QMS-RS")
    assert r.code == 0 and r.json["result"]["version"] == "23.0"
    assert r.json["result"]["status"] == "EFFECTIVE"
    assert (legacy / "QMS/.archive/SDLC-QMS/SDLC-QMS-RS-v22.0.md").read_text(
        encoding="utf-8") == original
    assert (legacy / "QMS/.meta/QMS-RS/SDLC-QMS-RS.json").is_file()
    # the registry of the earlier tool was not rewritten
    assert registry.read_bytes() == registry_bytes


def test_namespace_add_of_existing_folder_namespace_is_refused(legacy, cli):
    registry = legacy / "QMS/.meta/sdlc_namespaces.json"
    before = state_digest(legacy)
    r = cli(legacy, "--json", "--user", "lead", "namespace", "add", "QMS")
    assert r.code == 1 and r.json["error"]["code"] == "conflict"
    r = cli(legacy, "--json", "--user", "lead", "namespace", "add", "CQ")
    assert r.code == 1 and r.json["error"]["code"] == "conflict"
    assert state_digest(legacy) == before
    assert json.loads(registry.read_text()) == {"CQ": {"path": "SDLC-CQ"},
                                                 "WFE": {"path": "SDLC-WFE"}}
