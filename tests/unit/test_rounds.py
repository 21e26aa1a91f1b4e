"""Blind review rounds (qms.domain.rounds): who sees what of an open round."""

from __future__ import annotations

import pytest

from qms.domain.rounds import seal

pytestmark = pytest.mark.req("REQ-INT-030")


def review(user: str, version: str = "0.1", outcome: str = "RECOMMEND") -> dict:
    return {"event": "REVIEW", "user": user, "version": version, "outcome": outcome,
            "comment": f"{user} says", "meaning": "review: recommend", "content_sha256": "h"}


ROUND_1 = [{"event": "ROUTE_REVIEW", "version": "0.1"}, review("qa", outcome="UPDATES_REQUIRED"),
           {"event": "STATUS_CHANGE", "to_status": "REVIEWED"}, {"event": "CHECKIN"}]
OPEN = ROUND_1 + [{"event": "ROUTE_REVIEW", "version": "0.1"}, review("qa"), review("tu")]


def test_others_entries_of_the_open_round_are_sealed_own_are_not():
    seen = seal(OPEN, "IN_REVIEW", "0.1", "qa")
    assert seen[1] == ROUND_1[1]                       # the closed round shows, same version
    assert seen[5] == OPEN[5]                          # qa's own review of the open round
    assert seen[6] == {"event": "REVIEW", "user": "tu", "version": "0.1",
                       "content_sha256": "h", "sealed": True}
    assert OPEN[6]["comment"] == "tu says"             # the trail itself is never changed


def test_owner_and_a_shared_screen_see_no_entry_of_the_open_round():
    for viewer in ("claude", None):
        seen = seal(OPEN, "IN_REVIEW", "0.1", viewer)
        assert [bool(e.get("sealed")) for e in seen] == [False] * 5 + [True, True]


def test_a_closed_round_shows_everything():
    for status in ("REVIEWED", "DRAFT", "IN_APPROVAL", "EFFECTIVE"):
        assert seal(OPEN, status, "0.1", None) == OPEN


def test_a_trail_without_a_route_event_seals_the_current_version():
    legacy = [review("qa", "0.1"), review("tu", "0.2")]
    assert [bool(e.get("sealed")) for e in seal(legacy, "IN_REVIEW", "0.2", None)] == \
        [False, True]
