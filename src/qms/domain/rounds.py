"""Blind review rounds (pure): what of an open review round a caller may see.

While a document is in review, each reviewer judges on their own: the outcome, comment and
signature meaning of every REVIEW of the open round are sealed for everyone but the reviewer
who wrote it. The owner, the other reviewers, quality and administrators see that a review
was recorded (who, when, the text's hash), not what it says. Once the round closes (all
reviews in, withdrawn), everything shows. Every surface (history, comments, MCP, web, the
export's dossier) reads the trail through :func:`seal`.
"""

from __future__ import annotations

from qms.domain.workflow import REVIEW_STATES

SEALED = ("outcome", "comment", "meaning")  # what a sealed REVIEW event leaves out


def open_round(events: list[dict], status: str | None) -> int | None:
    """Where the open review round starts in ``events``, or None when none is open.

    The trail decides: a round is open when its last status change moved into review (so an
    edited meta file cannot unseal it). A meta ``status`` in review that the trail does not
    show (a trail of the earlier tool) opens it at the last ROUTE_REVIEW, else at the start."""
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") == "STATUS_CHANGE":
            if events[i].get("to_status") in REVIEW_STATES:
                return i
            break
    if status not in REVIEW_STATES:
        return None
    return next((i for i in range(len(events) - 1, -1, -1)
                 if events[i].get("event") == "ROUTE_REVIEW"), 0)


def seal(events: list[dict], status: str | None, viewer: str | None) -> list[dict]:
    """``events`` as ``viewer`` may see them (None: nobody's own, e.g. a shared screen);
    ``status`` is the meta's. A sealed event is a copy without :data:`SEALED` fields and
    with ``sealed: True``; the others are returned as they are."""
    start = open_round(events, status)
    if start is None:
        return events
    return [{**{k: v for k, v in e.items() if k not in SEALED}, "sealed": True}
            if i >= start and e.get("event") == "REVIEW"
            and (viewer is None or e.get("user") != viewer) else e
            for i, e in enumerate(events)]
