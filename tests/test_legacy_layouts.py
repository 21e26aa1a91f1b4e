"""Layouts real projects of the earlier tool hold besides the usual ones.

- an orphan child: ``VAR-001`` (no parent in its ID, created by a bug of the earlier tool),
  stored as ``QMS/CR/VAR-001-draft.md`` with meta/audit under ``VAR/``;
- flat child archives: ``QMS/.archive/CR/CR-028-VAR-001-v0.1.md`` instead of
  ``QMS/.archive/CR/CR-028/...``.

The files are a copy of ``../shared/fixtures/legacy-layouts`` kept in ``tests/data`` (so a
clone without ../shared runs them); the same checks also run on ../shared when it is present.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SHARED, copy_writable, tree_digest
from test_legacy import archived_versions, doc_file, legacy_docs, state_digest

req = pytest.mark.req

DATA = Path(__file__).parent / "data" / "legacy-layouts"
SHARED_LAYOUTS = SHARED / "fixtures" / "legacy-layouts"
NO_SHARED = f"../shared is not available ({SHARED_LAYOUTS} missing)"


def copy_tree(source: Path, dest: Path) -> Path:
    if not source.is_dir():
        pytest.skip(NO_SHARED)
    return copy_writable(source, dest)


@pytest.fixture(params=["tests-data", "shared"])
def layouts(request, tmp_path) -> Path:
    """A writable copy of the legacy layouts: from tests/data, and from ../shared."""
    source = DATA if request.param == "tests-data" else SHARED_LAYOUTS
    return copy_tree(source, tmp_path / "legacy")


@pytest.fixture
def own(tmp_path) -> Path:
    return copy_tree(DATA, tmp_path / "legacy")


def run_json(cli, root: Path, user: str, *args: str) -> dict:
    r = cli(root, "--json", "--user", user, *args)
    assert r.code == 0, (args, r.err, r.out)
    return r.json["result"]


@pytest.mark.skipif(not SHARED_LAYOUTS.is_dir(), reason=NO_SHARED)
def test_test_data_is_an_unchanged_copy_of_shared():
    ours = {k: v for k, v in tree_digest(DATA).items() if k.startswith("QMS/")}
    theirs = {k: v for k, v in tree_digest(SHARED_LAYOUTS).items() if k.startswith("QMS/")}
    assert ours == theirs
    assert (DATA / ".claude/agents/qa.md").read_bytes() == \
        (SHARED_LAYOUTS / ".claude/agents/qa.md").read_bytes()


# -- every document and every archived version reads ------------------------------------------
@req("REQ-LEGACY-003")
@req("REQ-LEGACY-001")
@req("REQ-LEGACY-002")
def test_every_document_and_archived_version_reads(layouts, cli):
    docs = legacy_docs(layouts)
    assert {"VAR-001", "CR-028", "CR-028-VAR-001"} <= set(docs)
    before = state_digest(layouts)
    n_archived = 0
    for doc_id, meta in docs.items():
        st = run_json(cli, layouts, "qa", "status", doc_id)
        assert (st["doc_id"], st["version"], st["status"], st["doc_type"]) == \
            (doc_id, meta["version"], meta["status"], meta["doc_type"])
        assert (layouts / st["location"]).is_file(), doc_id
        current = doc_file(layouts, doc_id) or doc_file(layouts, doc_id, draft=True)
        assert run_json(cli, layouts, "qa", "read", doc_id)["content"] == \
            current.read_text(encoding="utf-8")
        audit = layouts / "QMS/.audit" / meta["doc_type"] / f"{doc_id}.jsonl"
        lines = [json.loads(x) for x in audit.read_text(encoding="utf-8").splitlines()]
        assert run_json(cli, layouts, "qa", "history", doc_id)["events"] == lines
        expected = [e["comment"] for e in lines if e["event"] == "REVIEW" and e.get("comment")]
        got = run_json(cli, layouts, "qa", "comments", doc_id)["comments"]
        assert [c["comment"] for c in got] == expected
        for version, path in archived_versions(layouts, doc_id).items():
            res = run_json(cli, layouts, "qa", "read", doc_id, "--version", version)
            assert res["content"] == path.read_text(encoding="utf-8"), (doc_id, version)
            assert res["source"] == str(path.relative_to(layouts))
            n_archived += 1
        for args in (("status", doc_id), ("history", doc_id), ("comments", doc_id),
                     ("read", doc_id)):  # the human renderings too
            assert cli(layouts, "--user", "qa", *args).code == 0, args
    assert n_archived == 4
    assert state_digest(layouts) == before


# -- the orphan VAR-001 ------------------------------------------------------------------------
@req("REQ-LEGACY-001")
def test_orphan_child_reads_where_the_earlier_tool_put_it(own, cli):
    st = run_json(cli, own, "qa", "status", "var-001")
    assert st["location"] == "QMS/CR/VAR-001-draft.md" and st["title"] == "Test VAR Creation"
    assert st["checked_out"] is True and st["responsible_user"] == "claude"
    draft = (own / "QMS/CR/VAR-001-draft.md").read_text(encoding="utf-8")
    for extra in ((), ("--draft",), ("--version", "0.1")):
        assert run_json(cli, own, "qa", "read", "VAR-001", *extra)["content"] == draft
    r = cli(own, "--json", "--user", "qa", "read", "VAR-001", "--version", "1.0")
    assert r.code == 1 and r.json["error"]["code"] == "not_found"
    assert [e["event"] for e in run_json(cli, own, "qa", "history", "VAR-001")["events"]] == \
        ["CREATE"]
    assert run_json(cli, own, "claude", "workspace")["documents"] == []
    assert run_json(cli, own, "qa", "inbox")["tasks"] == []


@req("REQ-LEGACY-001")
def test_orphan_takes_no_children_and_numbering_ignores_it(own, cli):
    before = state_digest(own)
    for kind in ("VR", "ADD"):
        r = cli(own, "--user", "claude", "create", kind, "--parent", "VAR-001", "--title", "x")
        assert r.code == 1 and "without a parent in its ID" in r.err, r.err
    assert state_digest(own) == before
    # QMS/CR/VAR-001-draft.md is no CR: the next CR continues from CR-028
    assert run_json(cli, own, "claude", "create", "CR", "--title", "Next")["doc_id"] == "CR-029"
    # and new children of CR-028 continue from the files in its folder
    added = run_json(cli, own, "claude", "create", "ADD", "--parent", "CR-028", "--title", "A")
    assert added["doc_id"] == "CR-028-ADD-001"


@req("REQ-LEGACY-004")
def test_stale_legacy_checkout_names_the_way_out_then_cancels(own, cli):
    """VAR-001's meta says checked out by claude, but no workspace copy exists."""
    before = state_digest(own)
    for cmd in ("checkout", "checkin"):
        r = cli(own, "--user", "claude", cmd, "VAR-001")
        assert r.code == 1 and "unlock VAR-001" in r.err, (cmd, r.err)
    r = cli(own, "--user", "claude", "cancel", "VAR-001", "--confirm")
    assert r.code == 1 and "check it in first" in r.err and "unlock" in r.err
    assert state_digest(own) == before
    assert cli(own, "--user", "lead", "unlock", "VAR-001", "--reason", "stale").code == 0
    r = cli(own, "--user", "claude", "cancel", "VAR-001", "--confirm")
    assert r.code == 0, r.err
    assert not (own / "QMS/CR/VAR-001-draft.md").exists()
    assert (own / "QMS/CR/CR-028/CR-028.md").is_file()  # the shared CR folder stays
    events = run_json(cli, own, "qa", "history", "VAR-001")["events"]
    assert [e["event"] for e in events] == ["CREATE", "UNLOCK", "CANCEL"]


@req("REQ-LEGACY-004")
def test_cancelling_the_only_orphan_keeps_the_cr_folder(own, cli):
    shutil.rmtree(own / "QMS/CR/CR-028")
    assert cli(own, "--user", "lead", "unlock", "VAR-001", "--reason", "stale").code == 0
    assert cli(own, "--user", "claude", "cancel", "VAR-001", "--confirm").code == 0
    assert (own / "QMS/CR").is_dir() and not any((own / "QMS/CR").iterdir())


def _orphan_of_type(root: Path, kind: str) -> str:
    """Turn the copied VAR-001 into an orphan of another child type (same shape on disk)."""
    doc_id = f"{kind}-001"
    meta = json.loads((root / "QMS/.meta/VAR/VAR-001.json").read_text())
    meta.update(doc_id=doc_id, doc_type=kind)
    (root / f"QMS/.meta/{kind}").mkdir(exist_ok=True)
    (root / f"QMS/.meta/{kind}/{doc_id}.json").write_text(json.dumps(meta, indent=2))
    (root / f"QMS/.audit/{kind}").mkdir(exist_ok=True)
    shutil.copy(root / "QMS/.audit/VAR/VAR-001.jsonl", root / f"QMS/.audit/{kind}/{doc_id}.jsonl")
    shutil.copy(root / "QMS/CR/VAR-001-draft.md", root / f"QMS/CR/{doc_id}-draft.md")
    return doc_id


@req("REQ-LEGACY-001")
@pytest.mark.parametrize("kind", ["TP", "ER", "ADD", "VR"])
def test_orphans_of_every_child_type_read(own, cli, kind):
    doc_id = _orphan_of_type(own, kind)
    st = run_json(cli, own, "qa", "status", doc_id)
    assert (st["doc_type"], st["location"]) == (kind, f"QMS/CR/{doc_id}-draft.md")
    text = (own / f"QMS/CR/{doc_id}-draft.md").read_text(encoding="utf-8")
    assert run_json(cli, own, "qa", "read", doc_id, "--draft")["content"] == text
    assert len(run_json(cli, own, "qa", "history", doc_id)["events"]) == 1
    assert run_json(cli, own, "qa", "comments", doc_id)["comments"] == []


# -- flat archives -----------------------------------------------------------------------------
@req("REQ-LEGACY-002")
def test_flat_child_archives_read(own, cli):
    for version in ("0.1", "1.0"):
        res = run_json(cli, own, "qa", "read", "CR-028-VAR-001", "--version", version)
        assert res["source"] == f"QMS/.archive/CR/CR-028-VAR-001-v{version}.md"
        assert res["content"] == (own / res["source"]).read_text(encoding="utf-8")
    r = cli(own, "--json", "--user", "qa", "read", "CR-028-VAR-001", "--version", "1.1")
    assert r.code == 1 and r.json["error"]["code"] == "not_found"


@req("REQ-LEGACY-002")
def test_flat_archives_of_roots_and_deep_children_read_and_ours_wins(own, cli):
    archive = own / "QMS/.archive/CR"
    # a root CR archived flat, and a grandchild archived flat
    (archive / "CR-028/CR-028-v0.1.md").rename(archive / "CR-028-v0.1.md")
    res = run_json(cli, own, "qa", "read", "CR-028", "--version", "0.1")
    assert res["source"] == "QMS/.archive/CR/CR-028-v0.1.md"
    # where both places hold a version, ours (the parent's folder) is the one read
    (archive / "CR-028-v1.0.md").write_text("stale flat copy\n")
    res = run_json(cli, own, "qa", "read", "CR-028", "--version", "1.0")
    assert res["source"] == "QMS/.archive/CR/CR-028/CR-028-v1.0.md"
    assert res["content"] != "stale flat copy\n"


@req("REQ-LEGACY-001")
@req("REQ-LEGACY-002")
def test_both_layouts_read_through_the_installed_cli(own, qms_proc):
    run = qms_proc(own, "--user", "qa", "status", "VAR-001")
    assert run.code == 0 and "QMS/CR/VAR-001-draft.md" in run.out, run.err
    run = qms_proc(own, "--user", "qa", "read", "CR-028-VAR-001", "--version", "0.1")
    flat = own / "QMS/.archive/CR/CR-028-VAR-001-v0.1.md"
    assert run.code == 0 and run.out.rstrip("\n") == flat.read_text(encoding="utf-8").rstrip("\n")
    run = qms_proc(own, "--user", "qa", "history", "VAR-001")
    assert run.code == 0 and "CREATE by claude" in run.out
