"""During an execution checkout meta already names the next minor version while the draft
still holds the checked-out one: ``read`` labels the draft with the version it holds."""

from __future__ import annotations

import pytest


@pytest.mark.req("REQ-QRY-001")
def test_read_labels_the_draft_with_the_version_it_holds(q):
    doc = q.in_execution()
    released = q.draft(doc).read_text()
    q.ok("claude", "checkout", doc)
    assert q.version(doc) == "1.1"
    for extra in ((), ("--draft",), ("--version", "1.0")):
        res = q.json("qa", "read", doc, *extra)["result"]
        assert (res["version"], res["content"]) == ("1.0", released), extra
    run = q.fail("qa", "read", doc, "--version", "1.1", match="not checked in yet")
    assert "the draft holds v1.0" in run.err
    q.edit(doc, "executed")
    q.ok("claude", "checkin", doc)
    res = q.json("qa", "read", doc, "--version", "1.1")["result"]
    assert "executed" in res["content"]
    assert q.json("qa", "read", doc, "--version", "1.0")["result"]["content"] == released
