"""Blind review rounds hold in the dossier: while a round is open, the printed trail, the
signature page and the attached trail seal other reviewers' outcomes and comments exactly
as `history` does for the exporter (author, other reviewer, administrator alike); the real
trail file's hash is stated; once the round closes everything shows and the attached trail
is the file byte for byte."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

S = sys.modules["_qms_tests_export_support"]  # loaded by this folder's conftest
ROOT = S.ROOT
pytestmark = [pytest.mark.timeout(180), pytest.mark.req("REQ-EXP-009")]

SECRET = "SEALED-remark-of-qa-7f3a"


@pytest.fixture(scope="module")
def open_round(tmp_path_factory, pdf_tools):
    """SOP-008 in review on qa and tu; qa has reviewed (request updates, with a comment)."""
    from qms import operations as ops
    from qms.store.project import Project

    root = ROOT.make_project(tmp_path_factory.mktemp("blind") / "p")
    project = Project.open(root)
    doc = ops.create(project, "claude", doc_type="SOP", title="Blind").doc_id
    ops.checkin(project, "claude", doc_id=doc, content="---\ntitle: Blind\nrevision_summary: "
                "x\n---\n\n# Blind\n\nText under review.\n")
    ops.route(project, "claude", doc_id=doc, route_type="review", assignees=["qa", "tu"])
    ops.review(project, "qa", doc_id=doc, outcome="request-updates", comment=SECRET)
    return S.Proc(root), doc


def _export(q, user, doc, folder):
    out = folder / f"{user}.pdf"
    q.ok(user, "export", doc, "-o", out)
    return S.pdftext(out), S.attachments(out, folder / f"att-{user}")


def test_author_other_reviewer_and_admin_see_the_round_sealed(open_round, tmp_path):
    q, doc = open_round
    trail = (q.root / "QMS" / ".audit" / "SOP" / f"{doc}.jsonl").read_bytes()
    assert SECRET.encode() in trail
    for user in ("claude", "tu", "lead"):  # author, the other reviewer, the administrator
        text, files = _export(q, user, doc, tmp_path)
        history = q.ok(user, "history", doc).out
        assert SECRET not in history and SECRET not in S.flat(text), user
        assert "request" not in S.flat(text).lower().replace("requires", ""), user
        for name, data in files.items():
            assert SECRET.encode() not in data and b"REQUEST_UPDATES" not in data, (user, name)
        line = " ".join(text.split())
        assert "Review round open" in line and "sealed until the review round closes" in line
        assert "review (sealed while the" in line  # its signature, listed without meaning
        assert hashlib.sha256(trail).hexdigest() in S.flat(text)  # the real file, named
        shown = files[f"{doc}.audit.jsonl"].split(b"\n")
        real = trail.split(b"\n")
        assert len(shown) == len(real)
        changed = [n for n, (a, b) in enumerate(zip(shown, real)) if a != b]
        assert len(changed) == 1 and json.loads(shown[changed[0]])["sealed"] is True


def test_the_reviewer_sees_their_own_review(open_round, tmp_path):
    q, doc = open_round
    text, files = _export(q, "qa", doc, tmp_path)
    assert SECRET in S.flat(text) and SECRET in q.ok("qa", "history", doc).out
    trail = (q.root / "QMS" / ".audit" / "SOP" / f"{doc}.jsonl").read_bytes()
    assert files[f"{doc}.audit.jsonl"] == trail  # nothing of someone else was sealed


def test_a_closed_round_shows_everything(open_round, tmp_path):
    q, doc = open_round
    q2 = S.Proc(ROOT.copy_writable(q.root, tmp_path / "p"))
    q2.ok("tu", "review", doc, "--recommend", "--comment", "fine by me")
    text, files = _export(q2, "claude", doc, tmp_path)
    assert SECRET in S.flat(text) and "Review round open" not in text
    assert files[f"{doc}.audit.jsonl"] == \
        (q2.root / "QMS" / ".audit" / "SOP" / f"{doc}.jsonl").read_bytes()
