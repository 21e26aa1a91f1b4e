"""An open review round stays blind (qms.domain.rounds): while it is open, `history` and
`comments` show each reviewer their own review only; the owner and everyone else see that
a review was recorded, never its outcome or comment. When the round closes, all shows."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.req("REQ-INTEG-024")

SECRET = "tu thinks section 4 is wrong"


def _open_round(q) -> str:
    doc = q.create("SOP", "Blind", "claude")
    q.ok("claude", "route", doc, "--review", "--assign", "qa", "tu")
    q.ok("tu", "review", doc, "--request-updates", "--comment", SECRET)
    return doc


def _tu_review(q, viewer: str, doc: str) -> dict:
    events = q.json(viewer, "history", doc)["result"]["events"]
    return next(e for e in events if e["event"] == "REVIEW" and e["user"] == "tu")


def test_history_and_comments_hide_other_reviewers_entries_of_the_open_round(q):
    doc = _open_round(q)
    for viewer in ("qa", "claude", "lead"):
        run = q.ok(viewer, "history", doc)
        assert SECRET not in run.out and "UPDATES_REQUIRED" not in run.out
        assert "request-updates" not in run.out
        assert "REVIEW by tu" in run.out and "hidden until the review round completes" in run.out
        seen = _tu_review(q, viewer, doc)
        assert seen["sealed"] is True
        assert not {"comment", "outcome", "meaning"} & set(seen)
        run = q.ok(viewer, "comments", doc)
        assert SECRET not in run.out and "No comments" in run.out
        assert SECRET not in q.ok(viewer, "--json", "comments", doc).out
    # the reviewer sees their own entry
    assert _tu_review(q, "tu", doc)["comment"] == SECRET
    assert SECRET in q.ok("tu", "comments", doc).out
    assert "UPDATES_REQUIRED" in q.ok("tu", "history", doc).out


def test_everything_shows_once_the_round_closes(q):
    doc = _open_round(q)
    q.ok("qa", "review", doc, "--recommend", "--comment", "qa is fine")
    assert q.status(doc) == "REVIEWED"
    for viewer in ("qa", "claude"):
        assert _tu_review(q, viewer, doc)["comment"] == SECRET
        assert SECRET in q.ok(viewer, "comments", doc).out
    # a new round at the same version seals only its own reviews
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    q.ok("claude", "route", doc, "--review", "--assign", "qa", "tu")
    q.ok("tu", "review", doc, "--recommend", "--comment", "second round, tu")
    out = q.ok("qa", "history", doc).out
    assert SECRET in out and "second round, tu" not in out
    comments = q.json("claude", "comments", doc)["result"]["comments"]
    assert [c["comment"] for c in comments] == [SECRET, "qa is fine"]


def test_real_cli_history_is_blind(project, qms_proc):
    def run(user, *args):
        return qms_proc(project, "--user", user, *args)

    doc = json.loads(run("claude", "--json", "create", "SOP", "--title", "t").out)["result"]["doc_id"]
    assert run("claude", "route", doc, "--review", "--assign", "qa", "tu").code == 0
    assert run("tu", "review", doc, "--recommend", "--comment", SECRET).code == 0
    other = run("qa", "history", doc)
    assert other.code == 0 and SECRET not in other.out and "RECOMMEND" not in other.out
    assert SECRET in run("tu", "history", doc).out


def test_editing_the_meta_status_does_not_unseal_the_round(q):
    doc = _open_round(q)
    path = q.root / "QMS" / ".meta" / "SOP" / f"{doc}.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "status": "REVIEWED"}))
    assert SECRET not in q.ok("qa", "history", doc).out
    assert _tu_review(q, "qa", doc)["sealed"] is True
