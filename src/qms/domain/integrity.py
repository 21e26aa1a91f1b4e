"""Integrity rules (pure): event hashes, chain messages, signature meanings, state replay.

Every audit event written by this tool is one JSON line. Its hash is the SHA-256 of the
line's UTF-8 bytes (without the newline), exactly as stored, so nothing is re-serialised
to check it. See docs/integrity.md for the format and what it proves.
"""

from __future__ import annotations

try:  # the small built-in SHA-256: importing hashlib loads OpenSSL's libcrypto, ~4 ms on
    from _sha256 import sha256 as _sha256  # every mutating command (CPython <= 3.11)
except ImportError:  # pragma: no cover - depends on the interpreter
    try:
        from _sha2 import sha256 as _sha256  # CPython >= 3.12
    except ImportError:
        from hashlib import sha256 as _sha256

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

CHAIN_VERSION = "qms-chain-v1"
PROJECT_TRAIL = "project"  # doc_id of QMS/.audit/project.jsonl in the project chain

# event -> meaning of the electronic signature it records (21 CFR 11.50)
_MEANINGS = {"APPROVE": "approval", "REJECT": "rejection", "CLOSE": "closure",
             "CHECKIN": "authorship"}
_REVIEW_MEANINGS = {"RECOMMEND": "review: recommend", "UPDATES_REQUIRED": "review: request-updates"}

# events that record the SHA-256 of the text they act on; those binding the effective file
CONTENT_EVENTS = frozenset({"CREATE", "CHECKIN", "CHECKOUT", "ROUTE_REVIEW", "ROUTE_APPROVAL",
                            "REVIEW", "APPROVE", "REJECT", "EFFECTIVE", "RELEASE", "CLOSE",
                            "RETIRE", "FIX"})
EFFECTIVE_BOUND = frozenset({"EFFECTIVE", "CLOSE", "FIX"})
_RELEASED = frozenset({"EFFECTIVE", "CLOSED", "RETIRED"})  # no owner, not checked out


def sha256_bytes(data: bytes) -> str:
    return _sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return _sha256(text.encode("utf-8")).hexdigest()


def lines_of(data: bytes) -> list[bytes]:
    """A trail's non-blank lines, exactly as stored (without their newlines)."""
    return [line for line in data.split(b"\n") if line.strip()]


def prefix_sha256(lines: list[bytes]) -> str:
    """Hash of a trail's lines before an event: each line plus ``\\n`` (so a missing final
    newline in a file written by the earlier tool does not matter)."""
    h = _sha256()
    for line in lines:
        h.update(line)
        h.update(b"\n")
    return h.hexdigest()


def meaning_of(event: str, outcome: str | None = None) -> str | None:
    """The signature meaning an event records, or None if it is not a signature record."""
    if event == "REVIEW":
        return _REVIEW_MEANINGS.get(outcome or "")
    return _MEANINGS.get(event)


def chain_message(seq: int, doc_id: str, event_sha256: str, prev_sha256: str | None,
                  key_id: str) -> bytes:
    """The bytes a chain entry's signature covers."""
    return f"{CHAIN_VERSION}|{seq}|{doc_id}|{event_sha256}|{prev_sha256 or ''}|{key_id}".encode()


def is_chained(event: dict[str, Any]) -> bool:
    return "seq" in event


# -- replay ----------------------------------------------------------------------------
def replay(events: list[dict[str, Any]], doc_type: str) -> dict[str, Any]:
    """The state a document's trail implies: status, version, checked_out, responsible_user.

    Values that the trail cannot decide reliably are left out: the status when no event
    sets it, checkout and owner when the trail has events of the earlier tool (which did
    not record every change)."""
    state: dict[str, Any] = {"checked_out": False}
    legacy = any(not is_chained(e) for e in events)
    for e in events:
        kind = e.get("event")
        if kind == "CREATE":
            state["status"] = "IN_EXECUTION" if doc_type == "VR" else "DRAFT"
            state["responsible_user"] = e.get("user")
        elif kind == "STATUS_CHANGE":
            state["status"] = e.get("to_status")
            if state["status"] in _RELEASED:
                state["checked_out"] = False
                state["responsible_user"] = None
        elif kind == "CHECKOUT":
            state["checked_out"] = True
            state["responsible_user"] = e.get("user")
        elif kind in ("CHECKIN", "UNLOCK"):
            state["checked_out"] = False
        elif kind in ("EFFECTIVE", "RETIRE", "CLOSE"):
            state["checked_out"] = False
            state["responsible_user"] = None
        elif kind == "CANCEL":
            state["status"] = "CANCELLED"
        if e.get("version"):
            state["version"] = e["version"]
    if legacy:
        state.pop("checked_out", None)
        state.pop("responsible_user", None)
    return state


# -- which text each file of a document must hold ------------------------------------------
UNKNOWN = "unknown"  # the earlier tool left this file and no chained event has decided it
_ON_DRAFT = CONTENT_EVENTS - {"EFFECTIVE", "CLOSE", "RETIRE", "FIX"}  # events acting on the draft
_APPROVED = frozenset({"APPROVED", "PRE_APPROVED", "POST_APPROVED"})


def bindings(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the trail says each file of a document holds (docs/integrity.md, *Every
    controlled file is accounted for*), replaying only chained events:

    * ``effective``, ``draft``: the event whose ``content_sha256`` the file must match; None
      when the file must not exist; UNKNOWN when events of the earlier tool came first and
      no chained event has decided it;
    * ``archive``: version -> the last chained event that acted on the text of that version
      (when the version began with a chained event); ``required``: versions qms archived in
      the same transaction as an event, so their file must exist;
    * ``legacy``: versions named by events of the earlier tool, and ``first``: the version of
      the first chained event (archives older than it may be the earlier tool's);
    * ``approved``: version that became effective -> the version whose approval round
      signed it into force."""
    unknown = UNKNOWN if events and not is_chained(events[0]) else None
    effective = draft = unknown
    archive: dict[str, dict] = {}
    started: dict[str, bool] = {}  # version -> did it begin with a chained event
    required: set[str] = set()
    legacy: set[str] = set()
    approved: dict[str, str] = {}
    first = last = approve_version = None
    for e in events:
        version, kind = e.get("version"), e.get("event")
        if not is_chained(e):
            legacy.add(version)
            started.setdefault(version, False)
            continue
        started.setdefault(version, True)
        first = first or version
        if e.get("content_sha256"):
            last = e
            if started[version]:
                archive[version] = e
            if kind in _ON_DRAFT:
                draft = e
            if kind in EFFECTIVE_BOUND:
                effective = e
        if kind == "APPROVE":
            approve_version = version
        elif kind in ("EFFECTIVE", "RETIRE", "CHECKOUT") and e.get("from_version") \
                and e.get("content_sha256"):
            required.add(e["from_version"])
        if kind == "EFFECTIVE" and e.get("from_version"):
            approved[version] = e["from_version"]
        if kind in ("EFFECTIVE", "CLOSE", "RETIRE", "CANCEL"):
            draft = None
        if kind in ("RETIRE", "CANCEL"):
            effective = None
        if kind == "RETIRE":
            required.add(version)
        if kind == "STATUS_CHANGE":
            to = e.get("to_status")
            if to in ("EFFECTIVE", "CLOSED") and last is not None:
                effective, draft = last, None
            elif to == "RETIRED":
                effective = draft = None
            elif to in _APPROVED and approve_version:
                required.add(approve_version)
    return {"effective": effective, "draft": draft, "archive": archive, "required": required,
            "legacy": legacy, "first": first, "approved": approved}


_ROUND_ENDS = frozenset({"REJECT", "WITHDRAW", "REVERT", "CHECKIN", "CHECKOUT", "CLOSE",
                         "EFFECTIVE", "RETIRE", "CANCEL"})


def replay_round(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields of the current round the trail implies: ``pending_assignees``,
    ``review_outcomes``, ``effective_version`` and, once released, ``execution_phase``.

    The metadata's hash recorded by each event (``state_sha256``) is what decides whether
    the file was edited; this replay names the fields that differ."""
    pending: list[str] = []
    outcomes: dict[str, str] = {}
    state: dict[str, Any] = {"effective_version": None}
    for e in events:
        kind, user = e.get("event"), e.get("user")
        if kind in ("ROUTE_REVIEW", "ROUTE_APPROVAL"):
            pending = [str(u) for u in e.get("assignees") or []]
            if kind == "ROUTE_REVIEW":
                outcomes = {}
        elif kind == "ASSIGN":
            pending += [str(u) for u in e.get("assignees") or [] if u not in pending]
        elif kind in ("REVIEW", "APPROVE"):
            pending = [u for u in pending if u != user]
            if kind == "REVIEW":
                outcomes[str(user)] = str(e.get("outcome"))
        elif kind in _ROUND_ENDS or (kind == "STATUS_CHANGE" and
                                     str(e.get("to_status", "")).endswith("APPROVED")):
            pending, outcomes = [], {}
        if kind == "EFFECTIVE" or (kind == "STATUS_CHANGE" and e.get("to_status") == "EFFECTIVE"):
            state["effective_version"] = e.get("version")
        elif kind == "RELEASE":
            state["execution_phase"] = "post_release"
    state.update(pending_assignees=pending, review_outcomes=outcomes)
    return state
