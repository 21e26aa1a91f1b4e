"""`qms export`: the archival PDF/A-3b dossier of a real lifecycle, read back with poppler."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

S = sys.modules["_qms_tests_export_support"]  # loaded by this folder's conftest
CODE_LINE, ROOT, SOP_V1, SOP_V2, TABLE_CELL = S.CODE_LINE, S.ROOT, S.SOP_V1, S.SOP_V2, S.TABLE_CELL
attachments, build_lifecycle, pages, pdftext, shots = (S.attachments, S.build_lifecycle, S.pages,
                                                       S.pdftext, S.shots)
records, pdfa_part = S.records, S.pdfa_part

req = pytest.mark.req
pytestmark = pytest.mark.timeout(300)


def _trail(root, doc_id, kind):
    return root / "QMS" / ".audit" / kind / f"{doc_id}.jsonl"


@req("REQ-EXP-001")
@req("REQ-EXP-002")
def test_closed_cr_dossier(life, tmp_path):
    out = tmp_path / "cr.pdf"
    before = records(life.root)
    run = life.ok("tu", "export", "CR-001", "--output", out)
    assert "Exported CR-001 v2.0" in run.out and "CLEAN" in run.out
    assert records(life.root) == before  # a read: no record, no audit event (a cache only)
    shots(out, "cr")
    n = pages(out)
    assert n >= 5
    for page in range(1, n + 1):  # ID, version and "Page n of m" on every page
        text = pdftext(out, page)
        assert "CR-001 v2.0" in text and f"Page {page} of {n}" in text, page
    text = pdftext(out)
    cover = pdftext(out, 1)
    for fact in ("Fix the widget", "CR (executable)", "v2.0", "CLOSED", "Exported by",
                 "tu (tu)", "Effective date", "CLEAN"):
        assert fact in cover, fact
    assert TABLE_CELL in text and CODE_LINE in text and "1. Purpose" in text
    trail = [json.loads(line) for line in _trail(life.root, "CR-001", "CR").read_text().splitlines()]
    signed = [e for e in trail if e.get("meaning")]
    assert [e["meaning"] for e in signed] == ["authorship", "review: recommend", "approval",
                                              "review: recommend", "approval", "closure"]
    flat = re.sub(r"\s+", "", text)
    for e in signed:
        assert e["content_sha256"] in flat
    for e in trail:  # the trail table: every event with its seq
        assert re.search(rf"\b{e['seq']}\s+{e['ts'][:10]}", text), e
    assert "Integrity statement" in text and f"seq {trail[-1]['seq']}" in text
    last = _trail(life.root, "CR-001", "CR").read_bytes().rstrip(b"\n").split(b"\n")[-1]
    assert hashlib.sha256(last).hexdigest() in flat
    head = subprocess.run(["git", "-C", str(life.root), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert head in flat
    files = attachments(out, tmp_path / "att")
    assert set(files) == {"CR-001-v2.0.md", "CR-001.audit.jsonl", "CR-001.verify.json"}
    assert files["CR-001-v2.0.md"] == (life.root / "QMS/CR/CR-001/CR-001.md").read_bytes()
    assert files["CR-001.audit.jsonl"] == _trail(life.root, "CR-001", "CR").read_bytes()
    verified = json.loads(files["CR-001.verify.json"])
    assert verified["clean"] is True and verified["findings"] == []
    assert pdfa_part(out) == "3b"


@req("REQ-EXP-001")
def test_sop_at_v2_signatures_of_the_version_in_force(life, tmp_path):
    out = tmp_path / "sop.pdf"
    life.ok("qa", "export", "SOP-008", "-o", out)
    shots(out, "sop")
    text = pdftext(out)
    assert "SOP-008 v2.0" in text and "Revised procedure sentence two." in text
    assert "Original procedure sentence one." not in text
    sig_page = next(pdftext(out, p) for p in range(1, pages(out) + 1)
                    if "2. Electronic signatures" in pdftext(out, p))
    assert "approved into v2.0" in sig_page
    assert re.search(r"v1\.1", sig_page) and not re.search(r"\bv0\.1\b", sig_page)
    assert "authorship" in sig_page and "approval" in sig_page
    old = tmp_path / "sop-1.0.pdf"
    life.ok("qa", "export", "SOP-008", "--version", "1.0", "-o", old)
    text = pdftext(old)
    assert "SOP-008 v1.0" in text and "Original procedure sentence one." in text
    files = attachments(old, tmp_path / "att")
    assert files["SOP-008-v1.0.md"] == \
        (life.root / "QMS/.archive/SOP/SOP-008-v1.0.md").read_bytes()
    assert SOP_V1 in files["SOP-008-v1.0.md"].decode() and SOP_V2 not in text


@req("REQ-EXP-003")
def test_tampered_record_is_refused_unless_allowed(life, tmp_path):
    q = type(life)(ROOT.copy_writable(life.root, tmp_path / "proj"))
    effective = q.root / "QMS" / "SOP" / "SOP-008.md"
    effective.write_text(effective.read_text().replace("sentence two", "sentence 2"))
    out = tmp_path / "t.pdf"
    run = q("qa", "export", "SOP-008", "-o", out)
    assert run.code == 1 and "does not verify" in run.err and "content" in run.err
    assert run.out == "" and not out.exists()
    run = q.ok("qa", "export", "SOP-008", "-o", out, "--allow-findings")
    assert "finding(s), shown on the cover" in run.out
    shots(out, "tampered")
    cover = pdftext(out, 1)
    assert "finding(s) at export time" in cover and "content" in cover
    whole = " ".join(pdftext(out).split())
    assert "NOT the text the signed record binds" in whole and "sentence 2" in whole
    data = cover_pixels(out)
    red = sum(1 for i in range(0, len(data), 3)
              if data[i] > 150 and data[i + 1] < 60 and data[i + 2] < 80)
    assert red > 50, "the findings are printed in red"
    verified = json.loads(attachments(out, tmp_path / "a")["SOP-008.verify.json"])
    assert verified["clean"] is False and verified["findings"]


@req("REQ-EXP-004")
def test_bad_input_is_refused_and_writes_nothing(life, tmp_path):
    target = tmp_path / "secret.txt"
    target.write_text("keep")
    link = tmp_path / "link.pdf"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.pdf"
    os.mkfifo(fifo)
    existing = tmp_path / "old.pdf"
    existing.write_bytes(b"old")
    cases = [
        (("export", "CR-099", "-o", tmp_path / "x.pdf"), "not found"),
        (("export", "CR-001", "--version", "7.3", "-o", tmp_path / "x.pdf"), "no version"),
        (("export", "CR-001", "--version", "x", "-o", tmp_path / "x.pdf"), "version"),
        (("export", "CR-001", "-o", tmp_path), "is a folder"),
        (("export", "CR-001", "-o", link), "symbolic link"),
        (("export", "CR-001", "-o", fifo), "special file"),
        (("export", "CR-001", "-o", existing), "--force"),
        (("export", "CR-001", "-o", tmp_path / "nope" / "x.pdf"), "does not exist"),
        (("export", "CR-001", "-o", life.root / "QMS" / "x.pdf"), "what qms owns"),
        (("export", "CR-001", "-o", life.root / "qms.config.json", "--force"), "what qms owns"),
        (("export", "CR-001", "-o", life.root / "in-qms" / "x.pdf"), "what qms owns"),
        (("export", "--all", "-o", life.root / ".qms" / "out"), "what qms owns"),
        (("export", "--all", "-o", existing), "not a folder"),
        (("export", "--all", "-o", tmp_path), "not empty"),
        (("export", "--all"), "--output"),
        (("export",), "document ID"),
        (("export", "CR-001", "--all", "-o", tmp_path / "d"), "no ID"),
    ]
    (life.root / "in-qms").symlink_to(life.root / "QMS")  # a link into the records
    before = ROOT.tree_digest(life.root)  # refused before any PDF: not even a cache entry
    listing = sorted(os.listdir(tmp_path))
    for args, message in cases:
        run = life("qa", *args, timeout=60)
        assert run.code in (1, 2), (args, run.out)
        assert run.err.startswith("Error: ") and message.lower() in run.err.lower(), (args, run.err)
        assert run.err.count("\n") == 1, run.err
    assert target.read_text() == "keep" and existing.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == listing
    assert ROOT.tree_digest(life.root) == before
    (life.root / "in-qms").unlink()
    assert life("nobody", "export", "CR-001", "-o", tmp_path / "n.pdf").code == 1
    run = life.ok("qa", "export", "CR-001", "-o", existing, "--force")
    assert existing.read_bytes().startswith(b"%PDF-") and not existing.is_symlink()


@req("REQ-EXP-004")
def test_default_output_name_in_the_current_folder(life, tmp_path):
    run = life.ok("tu", "export", "sop-008", cwd=tmp_path)
    assert (tmp_path / "SOP-008-v2.0.pdf").read_bytes().startswith(b"%PDF-")
    assert "SOP-008-v2.0.pdf" in run.out
    again = life("tu", "export", "SOP-008", cwd=tmp_path)
    assert again.code == 1 and "--force" in again.err


@req("REQ-EXP-006")
def test_export_all_writes_one_file_per_document_and_an_index(life, tmp_path):
    out = tmp_path / "dossiers"
    run = life.ok("qa", "--json", "export", "--all", "--output", out)
    result = json.loads(run.out)["result"]
    names = sorted(os.listdir(out))
    assert "CR-001-v2.0.pdf" in names and "SOP-008-v2.0.pdf" in names and "SOP-001-v1.0.pdf" in names
    assert "index.pdf" in names and "index.json" in names
    index = json.loads((out / "index.json").read_text())
    assert {r["doc_id"] for r in index["documents"]} == {f["doc_id"] for f in result["files"]}
    for row in index["documents"]:
        assert hashlib.sha256((out / row["file"]).read_bytes()).hexdigest() == row["sha256"]
    assert index["verify"]["clean"] is True
    assert attachments(out / "index.pdf", tmp_path / "a")["index.json"] == \
        (out / "index.json").read_bytes()
    assert "CR-001-v2.0.pdf" in pdftext(out / "index.pdf")
    shots(out / "index.pdf", "index")
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary left


def cover_pixels(pdf: Path) -> bytes:
    """The first page as raw RGB bytes (pdftoppm's binary PPM: a three-line header, then
    width x height x 3 bytes)."""
    ppm = subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", str(pdf)],
                         check=True, capture_output=True).stdout
    magic, size, depth, data = ppm.split(b"\n", 3)
    width, height = map(int, size.split())
    assert magic == b"P6" and depth == b"255" and len(data) == width * height * 3
    return data


def tiny_png() -> bytes:
    """A valid one-pixel green PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"\x00\x0a\xc8\x1e")) + chunk(b"IEND", b"")


@req("REQ-EXP-005")
def test_markdown_images_and_links_are_never_fetched(tmp_path, pdf_tools):
    """An agent's document pointing at a local image (or any URL) must not get it read
    and embedded into the PDF."""
    from qms import operations as ops

    secret = tmp_path / "secret.png"
    secret.write_bytes(tiny_png())
    root = ROOT.make_project(tmp_path / "p")
    from qms.store.project import Project

    project = Project.open(root)
    doc = ops.create(project, "claude", doc_type="SOP", title="Pics").doc_id
    ops.checkin(project, "claude", doc_id=doc, content=(
        f"---\ntitle: Pics\nrevision_summary: x\n---\n\n![s](file://{secret}) "
        f"![r]({secret}) ![h](http://127.0.0.1:9/x.png)\n"))
    result = ops.export_pdf(project, "qa", doc_id=doc)
    pdf = tmp_path / "p.pdf"
    pdf.write_bytes(result.pdf)
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True,
                            text=True).stdout.splitlines()
    assert len(listed) <= 2, listed  # the header lines only: no image embedded


@req("REQ-EXP-001")
def test_passkey_signatures_are_marked(pdf_tools, tmp_path):
    from qms.operations.export import _signatures
    from qms.render import pdf, worker

    events = [{"event": "CHECKIN", "version": "0.1", "meaning": "authorship", "user": "a"},
              {"event": "APPROVE", "version": "0.1", "meaning": "approval", "user": "q",
               "passkey": {"credential_id": "x"}},
              {"event": "EFFECTIVE", "version": "1.0", "from_version": "0.1"}]
    chosen, scope = _signatures(events, {"status": "EFFECTIVE", "version": "1.0"}, "1.0")
    assert [s["passkey"] for s in chosen] == [False, True] and "approved into v1.0" in scope
    d = {"doc_id": "SOP-1", "version": "1.0", "title": "T", "signatures": chosen, "events": [],
         "findings": [], "clean": True, "signature_scope": scope, "exported_at": "2026-01-01T00:00:00+00:00",
         "exported_by": "q", "exported_by_name": "Q", "project": "p", "qms_version": "0",
         "trail_source": "t", "content": ""}
    with worker.Pool() as pool:
        (tmp_path / "p.pdf").write_bytes(pool.render([pdf.dossier(d, [])])[0])
    assert pdftext(tmp_path / "p.pdf").count("passkey-signed") == 1


@req("REQ-EXP-008")
def test_typst_loads_only_when_exporting(life, tmp_path):
    """Reading never loads the export code; exporting loads Typst only in its worker."""
    probe = ("import sys, json\nfrom qms.cli.main import main\nmain(sys.argv[1:])\n"
             "print(json.dumps([m for m in ('typst', 'jinja2', 'markdown_it', "
             "'qms.operations.export', 'qms.render.worker') if m in sys.modules]))")
    for args, loaded in ((["--user", "qa", "read", "CR-001"], []),
                         (["--user", "qa", "history", "CR-001"], []),
                         (["--user", "qa", "export", "CR-001", "-o", str(tmp_path / "x.pdf")],
                          ["qms.operations.export", "qms.render.worker"])):
        run = subprocess.run([sys.executable, "-c", probe, *args], cwd=life.root,
                             capture_output=True, text=True, timeout=60)
        assert json.loads(run.stdout.strip().splitlines()[-1]) == loaded, (args, run.stderr)
