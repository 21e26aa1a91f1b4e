"""Blind review rounds (qms.domain.rounds): who sees what of an open round."""

from __future__ import annotations

import pytest

from qms.domain.rounds import open_round, seal

pytestmark = pytest.mark.req("REQ-INTEG-024")


def review(user: str, version: str = "0.1", outcome: str = "RECOMMEND") -> dict:
    return {"event": "REVIEW", "user": user, "version": version, "outcome": outcome,
            "comment": f"{user} says", "meaning": "review: recommend", "content_sha256": "h"}


def moved(to: str) -> dict:
    return {"event": "STATUS_CHANGE", "to_status": to}


ROUND_1 = [moved("IN_REVIEW"), {"event": "ROUTE_REVIEW", "version": "0.1"},
           review("qa", outcome="UPDATES_REQUIRED"), moved("REVIEWED"), {"event": "CHECKIN"}]
OPEN = ROUND_1 + [moved("IN_REVIEW"), {"event": "ROUTE_REVIEW", "version": "0.1"},
                  review("qa"), review("tu")]


def test_others_entries_of_the_open_round_are_sealed_own_are_not():
    seen = seal(OPEN, "IN_REVIEW", "qa")
    assert seen[2] == ROUND_1[2]                       # the closed round shows, same version
    assert seen[7] == OPEN[7]                          # qa's own review of the open round
    assert seen[8] == {"event": "REVIEW", "user": "tu", "version": "0.1",
                       "content_sha256": "h", "sealed": True}
    assert OPEN[8]["comment"] == "tu says"             # the trail itself is never changed


def test_owner_and_a_shared_screen_see_no_entry_of_the_open_round():
    for viewer in ("claude", None):
        assert [i for i, e in enumerate(seal(OPEN, "IN_REVIEW", viewer))
                if e.get("sealed")] == [7, 8]


def test_a_closed_round_shows_everything():
    done = OPEN + [moved("REVIEWED")]
    for status in ("REVIEWED", "DRAFT", "IN_APPROVAL"):
        assert seal(done, status, None) == done
    assert seal(OPEN[:5] + [moved("DRAFT")], "DRAFT", None) == OPEN[:5] + [moved("DRAFT")]


def test_the_trail_decides_not_an_edited_meta_status():
    assert open_round(OPEN, "REVIEWED") == 5            # meta edited to unseal: still sealed
    assert seal(OPEN, "EFFECTIVE", None)[8]["sealed"]


def test_a_trail_without_status_changes_follows_the_meta():
    legacy = [review("qa", "0.1"), {"event": "ROUTE_REVIEW"}, review("tu", "0.2")]
    assert [bool(e.get("sealed")) for e in seal(legacy, "IN_REVIEW", None)] == \
        [False, False, True]
    assert open_round([review("qa")], "IN_REVIEW") == 0
    assert open_round(legacy, "REVIEWED") is None
