"""Tamper suite: a project built through the real CLI, copied and tampered with in every way
an insider with file access (but without the signing key) could try; `qms verify` must exit
1 and name the document each time. Untouched projects verify clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QMS_BIN = Path(sys.executable).with_name("qms")
req = pytest.mark.req


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}
    return subprocess.run([str(QMS_BIN), *args], cwd=root, capture_output=True, text=True,
                          timeout=60, env=env)


def ok(root: Path, user: str, *args: str) -> str:
    proc = run(root, "--user", user, *args)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def verify(root: Path, *ids: str) -> tuple[int, dict]:
    proc = run(root, "--user", "qa", "--json", "verify", *ids)
    assert proc.returncode in (0, 1), proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is True
    assert (proc.returncode == 0) == out["result"]["clean"]
    return proc.returncode, out["result"]


def review_approve(root: Path, doc: str) -> None:
    ok(root, "claude", "route", doc, "--review")
    ok(root, "qa", "review", doc, "--recommend", "--comment", f"reviewed {doc}")
    ok(root, "claude", "route", doc, "--approval")
    ok(root, "qa", "approve", doc)


def write_ws(root: Path, doc: str, body: str) -> None:
    path = root / ".claude/users/claude/workspace" / f"{doc}.md"
    path.write_text(f"---\ntitle: {doc}\nrevision_summary: edit\n---\n\n{body}\n")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """SOP-008 EFFECTIVE; SOP-009 EFFECTIVE then revised (snapshot of its files before the
    revision in ``_rollback``); CR-001 CLOSED; CR-002 in pre-review."""
    root = tmp_path_factory.mktemp("tamper") / "proj"
    root.mkdir()
    assert run(root, "init", "--yes").returncode == 0
    sop = json.loads(ok(root, "claude", "--json", "create", "SOP", "--title", "Signed SOP"))
    assert sop["result"]["doc_id"] == "SOP-008"
    write_ws(root, "SOP-008", "# SOP-008\n\nThe approved text.")
    ok(root, "claude", "checkin", "SOP-008")
    review_approve(root, "SOP-008")
    ok(root, "claude", "create", "SOP", "--title", "Revised SOP")
    write_ws(root, "SOP-009", "# SOP-009\n\nThe first text.")
    review_approve(root, "SOP-009")
    snap = root.parent / "_rollback"
    for rel in ("QMS/.meta/SOP/SOP-009.json", "QMS/.audit/SOP/SOP-009.jsonl",
                "QMS/SOP/SOP-009.md"):
        (snap / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, snap / rel)
    ok(root, "claude", "checkout", "SOP-009")
    write_ws(root, "SOP-009", "# SOP-009\n\nRevised.")
    ok(root, "claude", "checkin", "SOP-009")
    ok(root, "claude", "create", "CR", "--title", "Closed CR")
    write_ws(root, "CR-001", "# CR-001\n\nThe plan, then its execution.")
    review_approve(root, "CR-001")
    ok(root, "claude", "release", "CR-001")
    review_approve(root, "CR-001")
    ok(root, "claude", "close", "CR-001")
    ok(root, "claude", "create", "CR", "--title", "Open CR")
    write_ws(root, "CR-002", "# CR-002\n\nThe plan.")
    ok(root, "claude", "route", "CR-002", "--review")
    return root


@pytest.fixture
def copy(base, tmp_path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(base, dest)
    shutil.copytree(base.parent / "_rollback", tmp_path / "_rollback")
    return dest


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def put(path: Path, rows: list[str]) -> None:
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def trail(root: Path, doc: str) -> Path:
    kind = "CR" if doc.startswith("CR") else "SOP"
    return root / "QMS/.audit" / kind / f"{doc}.jsonl"


CHAIN = "QMS/.audit/chain.jsonl"


# -- tamperings ---------------------------------------------------------------------------
def edit_event(root: Path) -> str:
    path = trail(root, "SOP-008")
    rows = lines(path)
    i = next(n for n, r in enumerate(rows) if '"event": "REVIEW"' in r)
    rows[i] = rows[i].replace("reviewed SOP-008", "rubber-stamped")
    put(path, rows)
    return "SOP-008"


def insert_event(root: Path) -> str:
    path = trail(root, "CR-002")
    rows = lines(path)
    put(path, rows[:2] + [rows[1]] + rows[2:])
    return "CR-002"


def delete_event(root: Path) -> str:
    path = trail(root, "SOP-008")
    rows = lines(path)
    i = next(n for n, r in enumerate(rows) if '"event": "APPROVE"' in r)
    put(path, rows[:i] + rows[i + 1:])
    return "SOP-008"


def reorder_events(root: Path) -> str:
    path = trail(root, "CR-001")
    rows = lines(path)
    rows[3], rows[4] = rows[4], rows[3]
    put(path, rows)
    return "CR-001"


def remove_latest_events(root: Path) -> str:
    path = trail(root, "CR-002")
    put(path, lines(path)[:-3])  # route undone in the trail...
    meta = root / "QMS/.meta/CR/CR-002.json"
    data = json.loads(meta.read_text())
    data.update(status="DRAFT", checked_out=True, pending_assignees=[])  # ...and in meta
    meta.write_text(json.dumps(data))
    return "CR-002"


def delete_document(root: Path) -> str:
    for path in [root / "QMS/.meta/CR/CR-002.json", trail(root, "CR-002"),
                 *root.glob("QMS/CR/CR-002/*"), *root.glob(".claude/users/*/inbox/*CR-002*")]:
        path.unlink()
    return "CR-002"


def roll_back_document(root: Path) -> str:
    snap = root.parent / "_rollback"
    for path in snap.rglob("*"):
        if path.is_file():
            shutil.copy2(path, root / path.relative_to(snap))
    (root / "QMS/SOP/SOP-009-draft.md").unlink()
    for path in root.glob("QMS/.archive/SOP/SOP-009-v1.*"):
        path.unlink()
    return "SOP-009"


def swap_effective_text(root: Path) -> str:
    path = root / "QMS/SOP/SOP-008.md"
    path.write_text(path.read_text().replace("The approved text.", "A different text."))
    return "SOP-008"


def swap_archived_text(root: Path) -> str:
    path = root / "QMS/.archive/SOP/SOP-008-v0.1.md"
    path.write_text(path.read_text().replace("The approved text.", "A different text."))
    return "SOP-008"


def swap_closed_text(root: Path) -> str:
    path = root / "QMS/CR/CR-001/CR-001.md"
    path.write_text(path.read_text() + "\nAdded after closure.\n")
    return "CR-001"


def swap_draft_under_review(root: Path) -> str:
    path = root / "QMS/CR/CR-002/CR-002-draft.md"
    path.write_text(path.read_text() + "\nSlipped in during review.\n")
    return "CR-002"


def forge_event(root: Path) -> str:
    """Append an APPROVE with a chain entry signed by a key the project does not know."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from qms.domain import integrity

    path, chain = trail(root, "CR-002"), root / CHAIN
    last_event, last_entry = lines(path)[-1], lines(chain)[-1]
    seq = json.loads(last_entry)["seq"] + 1
    event = json.dumps({"ts": "2026-01-01T00:00:00+00:00", "event": "APPROVE", "user": "qa",
                        "version": "0.1", "prev_sha256": integrity.sha256_text(last_event),
                        "seq": seq})
    sha, prev = integrity.sha256_text(event), integrity.sha256_text(last_entry)
    key_id = json.loads(last_entry)["key_id"]  # claim the project's key
    sig = Ed25519PrivateKey.generate().sign(
        integrity.chain_message(seq, "CR-002", sha, prev, key_id)).hex()
    put(path, lines(path) + [event])
    put(chain, lines(chain) + [json.dumps({"seq": seq, "doc_id": "CR-002", "event_sha256": sha,
                                           "prev_sha256": prev, "key_id": key_id,
                                           "sig": sig})])
    return "CR-002"


def copy_event(root: Path) -> str:
    src = next(r for r in lines(trail(root, "SOP-008")) if '"event": "APPROVE"' in r)
    put(trail(root, "CR-002"), lines(trail(root, "CR-002")) + [src])
    return "CR-002"


def replay_event(root: Path) -> str:
    put(trail(root, "CR-002"), lines(trail(root, "CR-002")) + [lines(trail(root, "CR-002"))[-1]])
    put(root / CHAIN, lines(root / CHAIN) + [lines(root / CHAIN)[-1]])
    return "CR-002"


def rewrite_with_own_key(root: Path) -> str:
    """Edit an event, then recompute every later hash link and re-sign the chain from there
    with a key of one's own (the only thing an insider without the key can do)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from qms.domain import integrity

    mine = Ed25519PrivateKey.generate()
    path = trail(root, "SOP-008")
    rows = lines(path)
    i = next(n for n, r in enumerate(rows) if '"event": "REVIEW"' in r)
    new_hash: dict[int, str] = {}
    for n in range(i, len(rows)):
        e = json.loads(rows[n])
        if n == i:
            e["comment"] = "rubber-stamped"
        else:
            e["prev_sha256"] = integrity.sha256_text(rows[n - 1])
        rows[n] = json.dumps(e, ensure_ascii=False)
        new_hash[e["seq"]] = integrity.sha256_text(rows[n])
    put(path, rows)
    entries = lines(root / CHAIN)
    first = min(new_hash)
    for n in range(first - 1, len(entries)):
        entry = json.loads(entries[n])
        entry["event_sha256"] = new_hash.get(entry["seq"], entry["event_sha256"])
        entry["prev_sha256"] = integrity.sha256_text(entries[n - 1])
        entry["sig"] = mine.sign(integrity.chain_message(
            entry["seq"], entry["doc_id"], entry["event_sha256"], entry["prev_sha256"],
            entry["key_id"])).hex()
        entries[n] = json.dumps(entry)
    put(root / CHAIN, entries)
    return "SOP-008"


def edit_meta(root: Path) -> str:
    meta = root / "QMS/.meta/CR/CR-002.json"
    data = json.loads(meta.read_text())
    data["status"] = "PRE_APPROVED"
    meta.write_text(json.dumps(data))
    return "CR-002"


TAMPERINGS = [edit_event, insert_event, delete_event, reorder_events, remove_latest_events,
              delete_document, roll_back_document, swap_effective_text, swap_archived_text,
              swap_closed_text, swap_draft_under_review, forge_event, copy_event, replay_event,
              rewrite_with_own_key, edit_meta]


@req("REQ-INTEG-001")
@req("REQ-INTEG-006")
def test_untouched_project_verifies_clean(base):
    code, result = verify(base)
    assert code == 0 and result["clean"] and result["findings"] == []
    assert result["chained_events"] > 50 and result["legacy_events"] == 0
    assert run(base, "--user", "qa", "verify").stdout.rstrip().endswith("CLEAN")


@req("REQ-INTEG-001")
@req("REQ-INTEG-002")
@req("REQ-INTEG-003")
@req("REQ-INTEG-006")
@pytest.mark.parametrize("tamper", TAMPERINGS, ids=[t.__name__ for t in TAMPERINGS])
def test_tampering_is_found_and_names_the_document(copy, tamper):
    doc = tamper(copy)
    code, result = verify(copy)
    assert code == 1
    assert doc in {f["doc_id"] for f in result["findings"]}, result["findings"]
    for f in result["findings"]:
        assert {"doc_id", "kind", "message"} <= set(f)
    text = run(copy, "--user", "qa", "verify")
    assert text.returncode == 1 and f"{doc}: " in text.stdout


@req("REQ-INTEG-006")
def test_verify_of_named_documents_only(copy):
    swap_effective_text(copy)
    assert verify(copy, "CR-001")[0] == 0
    code, result = verify(copy, "SOP-008")
    assert code == 1 and result["documents"] == 1


@req("REQ-INTEG-002")
def test_every_signature_mode_localises_a_forgery(copy):
    rewrite_with_own_key(copy)
    proc = run(copy, "--user", "qa", "--json", "verify", "--all-signatures")
    result = json.loads(proc.stdout)["result"]
    assert proc.returncode == 1
    assert result["signatures_checked"] >= result["chained_events"]
    assert "SOP-008" in {f["doc_id"] for f in result["findings"] if f["kind"] == "signature"}


@req("REQ-INTEG-006", "REQ-INTEG-025")
@pytest.mark.parametrize("threaded", [False, True], ids=["forked", "spawned"])
def test_a_large_project_is_checked_in_parallel_with_the_same_findings(copy, monkeypatch,
                                                                        threaded):
    """Workers are forked by a caller with one thread (the CLI) and spawned by one with more
    (the MCP server): the findings are the same either way."""
    import importlib
    import threading

    from qms.operations.verify import verify

    verify_package = importlib.import_module("qms.operations.verify")
    from qms.store.project import Project

    swap_closed_text(copy)
    delete_event(copy)
    project = Project.open(copy)
    serial = verify(project, "qa")
    monkeypatch.setattr(verify_package, "PARALLEL_FROM", 1)
    monkeypatch.setattr(verify_package, "DOCS_PER_TASK", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    if threaded:
        other.start()
    try:
        parallel = verify(project, "qa")
    finally:
        release.set()
    assert not serial.clean and parallel.to_dict() == serial.to_dict()
    assert {"CR-001", "SOP-008"} <= {f["doc_id"] for f in parallel.findings}


@req("REQ-INTEG-002", "REQ-INTEG-025")
def test_every_signature_is_checked_on_every_core_with_the_same_findings(copy, monkeypatch):
    """--all-signatures split into tasks for worker processes (and the caller, who takes
    back what no worker started) finds exactly what one process finds, in the same order."""
    import importlib

    from qms.operations.verify import verify
    from qms.store.project import Project

    rewrite_with_own_key(copy)
    delete_event(copy)
    project = Project.open(copy)
    package = importlib.import_module("qms.operations.verify")
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    serial = verify(project, "qa", all_signatures=True)
    for name, value in (("SIGNATURES_PARALLEL_FROM", 1), ("SIGNATURES_PER_TASK", 7),
                        ("PARALLEL_FROM", 1), ("DOCS_PER_TASK", 3)):
        monkeypatch.setattr(package, name, value)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    parallel = verify(project, "qa", all_signatures=True)
    assert parallel.to_dict() == serial.to_dict()
    assert parallel.signatures_checked >= parallel.chained_events
    kinds = {(f["doc_id"], f["kind"]) for f in parallel.findings}
    assert ("SOP-008", "signature") in kinds and ("SOP-008", "missing") in kinds


@req("REQ-INTEG-006", "REQ-HARD-002")
@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_fifo_or_link_in_place_of_a_record_is_a_finding_never_a_hang(copy, kind):
    trail = copy / "QMS/.audit/CR/CR-001.jsonl"
    kept = trail.read_bytes()
    trail.unlink()
    if kind == "fifo":
        os.mkfifo(trail)
    else:
        (copy.parent / "kept.jsonl").write_bytes(kept)   # the very same lines, elsewhere
        trail.symlink_to(copy.parent / "kept.jsonl")
    code, result = verify(copy)
    assert code == 1
    assert {(f["doc_id"], f["kind"]) for f in result["findings"]} == {("CR-001", "not_a_file")}
    assert run(copy, "--user", "qa", "status", "SOP-008").returncode == 0   # not wedged
