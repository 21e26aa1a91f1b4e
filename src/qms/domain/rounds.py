"""Blind review rounds (pure): what of an open review round a caller may see.

While a document is in review, each reviewer judges on their own: the outcome, comment and
signature meaning of every REVIEW of the open round (the events after its last
ROUTE_REVIEW) are sealed for everyone but the reviewer who wrote it. The owner, the other
reviewers, quality and administrators see that a review was recorded (who, when, the text's
hash), not what it says. Once the round closes (all reviews in, withdrawn), everything shows.
Every surface (history, comments, MCP, web) reads the trail through :func:`seal`.
"""

from __future__ import annotations

from qms.domain.workflow import REVIEW_STATES

SEALED = ("outcome", "comment", "meaning")  # what a sealed REVIEW event leaves out


def seal(events: list[dict], status: str, version: str, viewer: str | None) -> list[dict]:
    """``events`` as ``viewer`` may see them (None: nobody's own, e.g. a shared screen); a
    sealed event is a copy without :data:`SEALED` fields and with ``sealed: True``."""
    if status not in REVIEW_STATES:
        return events
    start = next((i for i in range(len(events) - 1, -1, -1)
                  if events[i].get("event") == "ROUTE_REVIEW"), None)
    out = []
    for i, e in enumerate(events):
        # a trail of the earlier tool may lack the route: the round is the current version
        in_round = i > start if start is not None else e.get("version") == version
        if e.get("event") == "REVIEW" and in_round and (viewer is None or e.get("user") != viewer):
            e = {**{k: v for k, v in e.items() if k not in SEALED}, "sealed": True}
        out.append(e)
    return out
