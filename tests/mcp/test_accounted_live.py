"""Every controlled file is accounted for (issue 15, Why 3, 4): texts deleted, planted or
substituted outside qms, evidence edited or planted. `qms verify` names each one; `read`
(real CLI), `qms_read` (real MCP server) and the web pages (over HTTP) refuse to serve them
under the signatures of the text that was really approved."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest

from _mcp_support import QMS_CLI, http

req = pytest.mark.req
WS = ".claude/users/claude/workspace"


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}
    return subprocess.run([QMS_CLI, *args], cwd=root, capture_output=True, text=True,
                          timeout=60, env=env)


def ok(root: Path, user: str, *args: str) -> str:
    proc = cli(root, "--user", user, *args)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def edit(root: Path, doc: str, body: str) -> None:
    (root / WS / f"{doc}.md").write_text(f"---\ntitle: {doc}\nrevision_summary: edit\n---\n\n"
                                         f"# {doc}\n\n{body}\n")


def approve(root: Path, doc: str) -> None:
    ok(root, "claude", "route", doc, "--review")
    ok(root, "qa", "review", doc, "--recommend", "--comment", "fine")
    ok(root, "claude", "route", doc, "--approval")
    ok(root, "qa", "approve", doc)


def effective_sop(root: Path, title: str) -> str:
    doc = json.loads(ok(root, "claude", "--json", "create", "SOP", "--title", title))
    doc = doc["result"]["doc_id"]
    edit(root, doc, f"The approved text of {title}.")
    ok(root, "claude", "checkin", doc)
    approve(root, doc)
    return doc


def verify(root: Path) -> dict:
    proc = cli(root, "--user", "qa", "--json", "verify")
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)["result"]


def build(root: Path) -> dict[str, str]:
    """One document per attack; returns name -> doc ID."""
    docs = {"deleted_effective": effective_sop(root, "Deleted")}
    docs["deleted_archive"] = revised = effective_sop(root, "Revised")
    ok(root, "claude", "checkout", revised)
    edit(root, revised, "Revised text.")
    ok(root, "claude", "checkin", revised)  # v1.1 checked in, v1.0 in force and archived
    docs["substituted"] = effective_sop(root, "Substituted")
    docs["planted_archive"] = effective_sop(root, "Planted archive")
    cr = json.loads(ok(root, "claude", "--json", "create", "CR", "--title", "Pre-approved"))
    docs["deleted_pre_approved"] = cr = cr["result"]["doc_id"]
    edit(root, cr, "Plan.")
    ok(root, "claude", "checkin", cr)
    approve(root, cr)  # PRE_APPROVED v1.0: the draft is the approved plan
    cr2 = json.loads(ok(root, "claude", "--json", "create", "CR", "--title", "Never effective"))
    docs["planted_effective"] = cr2 = cr2["result"]["doc_id"]
    edit(root, cr2, "Plan two.")
    ok(root, "claude", "checkin", cr2)
    sop = json.loads(ok(root, "claude", "--json", "create", "SOP", "--title", "Checked in"))
    docs["deleted_draft"] = sop = sop["result"]["doc_id"]
    edit(root, sop, "Draft text.")
    ok(root, "claude", "checkin", sop)
    assert verify(root)["clean"]
    return docs


def attack(root: Path, docs: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """Apply every attack; returns name -> (doc ID, version to read or None)."""
    q = root / "QMS"
    (q / "SOP" / f"{docs['deleted_effective']}.md").unlink()
    (q / ".archive" / "SOP" / f"{docs['deleted_archive']}-v0.1.md").unlink()
    sub = q / "SOP" / f"{docs['substituted']}.md"
    sub.write_text(sub.read_text().replace("The approved text", "Drop the production database"))
    (q / ".archive" / "SOP" / f"{docs['planted_archive']}-v0.7.md").write_text(
        "---\ntitle: never\n---\n\nA version that never existed.\n")
    cr, cr2 = docs["deleted_pre_approved"], docs["planted_effective"]
    (q / "CR" / cr / f"{cr}-draft.md").unlink()
    (q / "CR" / cr2 / f"{cr2}.md").write_text("# Drop the production database\n")
    (q / "SOP" / f"{docs['deleted_draft']}-draft.md").unlink()
    return {"deleted_effective": (docs["deleted_effective"], None),
            "deleted_archive": (docs["deleted_archive"], "0.1"),
            "substituted": (docs["substituted"], None),
            "planted_archive": (docs["planted_archive"], "0.7"),
            "deleted_pre_approved": (cr, None),
            "planted_effective": (cr2, None),
            "deleted_draft": (docs["deleted_draft"], None)}


@req("REQ-INTEG-020")
@req("REQ-INTEG-021")
def test_unaccounted_texts_are_found_and_never_served(project, serve):
    docs = build(project)
    targets = attack(project, docs)
    result = verify(project)
    assert not result["clean"]
    found = {(f["doc_id"], f["kind"]) for f in result["findings"]}
    named = {d for d, _ in found}
    for name, (doc, _) in targets.items():
        assert doc in named, (name, result["findings"])
    assert (docs["planted_effective"], "unaccounted") in found
    assert (docs["planted_archive"], "unaccounted") in found
    assert (docs["substituted"], "content") in found
    assert (docs["deleted_effective"], "missing") in found
    assert (docs["deleted_draft"], "missing") in found
    one = cli(project, "--user", "qa", "--json", "verify", docs["planted_archive"])
    assert [f["kind"] for f in json.loads(one.stdout)["result"]["findings"]] == ["unaccounted"]

    # the CLI refuses each, naming the file and `qms verify`
    for name, (doc, version) in targets.items():
        args = ["--user", "tu", "read", doc] + (["--version", version] if version else [])
        proc = cli(project, *args)
        assert proc.returncode == 1, (name, proc.stdout)
        assert "qms verify" in proc.stderr and doc in proc.stderr, (name, proc.stderr)
        assert "Drop the production database" not in proc.stdout
        assert "never existed" not in proc.stdout

    served = serve("streamable-http")

    async def over_mcp() -> None:
        async with served.client() as client:
            for name, (doc, version) in targets.items():
                args = {"user": "tu", "doc_id": doc, **({"version": version} if version else {})}
                res = await client.call_tool("qms_read", args)
                assert res.is_error, (name, res.content[0].text[:200])
                assert "qms verify" in res.content[0].text, name
                assert res.structured_content["error"]["code"] == "project"

    anyio.run(over_mcp)
    for name, (doc, version) in targets.items():
        url = f"{served.base}/documents/{doc}" + (f"/versions/{version}" if version else "")
        status, page = http(url)
        assert status >= 400, (name, status)
        text = page.decode()
        assert "qms verify" in text and "Drop the production database" not in text, name
        assert "never existed" not in text, name
    # the untouched documents still read (and show their signatures)
    status, page = http(f"{served.base}/documents/{docs['planted_archive']}")
    assert status == 200


def _qualified(root: Path) -> Path:
    """An SDLC namespace with an effective RS and one qualify run: its stored evidence."""
    ok(root, "lead", "namespace", "add", "APP")
    ok(root, "claude", "create", "APP-RS", "--title", "Requirements")
    (root / WS / "SDLC-APP-RS.md").write_text(
        "---\ntitle: Requirements\nrevision_summary: first\n---\n\n# Requirements\n\n"
        "| ID | Requirement |\n|---|---|\n| REQ-APP-001 | It works. |\n")
    ok(root, "claude", "checkin", "SDLC-APP-RS")
    approve(root, "SDLC-APP-RS")
    (root / "junit.xml").write_text(
        '<?xml version="1.0"?><testsuite name="s" tests="1"><testcase classname="t" '
        'name="test_works"><properties><property name="req" value="REQ-APP-001"/>'
        "</properties></testcase></testsuite>\n")
    ok(root, "claude", "qualify", "APP", "--junit", "junit.xml")
    stored = list((root / "QMS" / ".evidence").glob("*.xml"))
    assert len(stored) == 1 and verify(root)["clean"]
    return stored[0]


@req("REQ-INTEG-022")
def test_evidence_edited_or_planted_is_found(project):
    evidence = _qualified(project)
    evidence.write_text(evidence.read_text().replace("test_works", "test_forged"))
    result = verify(project)
    assert ("SDLC-APP-RTM", "content") in {(f["doc_id"], f["kind"]) for f in result["findings"]}
    evidence.unlink()
    result = verify(project)
    assert ("SDLC-APP-RTM", "missing") in {(f["doc_id"], f["kind"]) for f in result["findings"]}
    planted = project / "QMS" / ".evidence" / ("0" * 64 + ".xml")
    planted.write_text("<testsuite/>")
    kinds = {(f["kind"], f["where"]) for f in verify(project)["findings"]}
    assert ("unaccounted", f"QMS/.evidence/{'0' * 64}.xml") in kinds


@req("REQ-INTEG-020")
def test_stray_files_under_qms_are_found(project):
    q = project / "QMS"
    (q / "CR" / "CR-077").mkdir(parents=True)
    (q / "CR" / "CR-077" / "CR-077.md").write_text("# a CR nobody created\n")
    (q / "SOP" / "notes.md").write_text("not a document\n")
    (q / ".keys" / "stolen.key").write_text("00")
    (q / ".archive" / "SOP").mkdir(parents=True, exist_ok=True)
    (q / ".archive" / "SOP" / "SOP-099-v1.0.md").write_text("# never\n")
    where = {f["where"] for f in verify(project)["findings"] if f["kind"] == "unaccounted"}
    assert where == {"QMS/CR/CR-077/CR-077.md", "QMS/SOP/notes.md", "QMS/.keys/stolen.key",
                     "QMS/.archive/SOP/SOP-099-v1.0.md"}


@req("REQ-INTEG-021")
def test_qualify_refuses_a_substituted_requirements_spec(project):
    _qualified(project)
    rs = project / "QMS" / "SDLC-APP" / "SDLC-APP-RS.md"
    rs.write_text(rs.read_text().replace("It works.", "Nothing is required."))
    proc = cli(project, "--user", "claude", "qualify", "APP", "--junit", "junit.xml")
    assert proc.returncode == 1 and "qms verify SDLC-APP-RS" in proc.stderr, proc.stderr


@req("REQ-INTEG-021")
def test_a_draft_substituted_in_review_is_not_signed(project):
    cr = json.loads(ok(project, "claude", "--json", "create", "CR", "--title", "Swap"))
    cr = cr["result"]["doc_id"]
    edit(project, cr, "The plan the author wrote.")
    ok(project, "claude", "checkin", cr)
    ok(project, "claude", "route", cr, "--review")
    draft = project / "QMS" / "CR" / cr / f"{cr}-draft.md"
    draft.write_text(draft.read_text().replace("the author wrote", "nobody reviewed"))
    before = (project / "QMS" / ".audit" / "CR" / f"{cr}.jsonl").read_text()
    proc = cli(project, "--user", "qa", "review", cr, "--recommend", "--comment", "ok")
    assert proc.returncode == 1 and f"qms verify {cr}" in proc.stderr, proc.stderr
    assert (project / "QMS" / ".audit" / "CR" / f"{cr}.jsonl").read_text() == before
