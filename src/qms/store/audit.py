"""The append-only audit trail: one JSON object per line, always with ts/event/user/version."""

from __future__ import annotations

from qms.errors import ProjectError
from qms.store import users
from qms.store.jsonl import parse_line
from qms.store.project import Project
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any


def now_ts() -> str:
    from datetime import datetime, timezone  # deferred: read-only commands never need it

    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def today() -> str:
    from datetime import datetime

    return datetime.now().strftime("%Y-%m-%d")


def append(tx: Transaction, project: Project, doc_id: str, event: str, user: str,
           version: str, content: str | None = None, **extra: Any) -> dict[str, Any]:
    """Record one document event, chained and signed (:mod:`qms.store.chain`) when the
    transaction commits.

    ``content`` is the exact text the event acts on: its SHA-256 is recorded as
    ``content_sha256``. Signature events (review, approve, reject, close, checkin) also
    record ``meaning`` and ``signer_name`` (21 CFR 11.50). The document's last event of the
    transaction records ``state_sha256``, the hash of the metadata the transaction leaves
    (:func:`qms.store.meta.state_sha256`), so the metadata is a cache of the signed trail."""
    from qms.domain import integrity  # deferred: read commands never hash or sign

    record = {"ts": now_ts(), "event": event, "user": user, "version": version, **extra}
    meaning = integrity.meaning_of(event, extra.get("outcome"))
    if meaning:
        record["meaning"] = meaning
        record["signer_name"] = users.display_name(project, user)
    if content is not None:
        record["content_sha256"] = integrity.sha256_text(content)
    queue = getattr(tx, "_qms_doc_events", None)
    if queue is None:
        queue = tx._qms_doc_events = []
        tx.before_commit.append(lambda: _sign_queued(tx, project, queue))
    queue.append((doc_id, record))
    return record


def _sign_queued(tx: Transaction, project: Project, queue: list) -> None:
    """Chain and sign the transaction's document events, in order; each document's last one
    carries the hash of the metadata staged for it (None: the metadata is deleted)."""
    from qms.store import chain
    from qms.store import meta as meta_store

    if queue:
        begin(tx, project, queue[0][1]["user"])
    last = {doc_id: n for n, (doc_id, _) in enumerate(queue)}
    for doc_id in getattr(tx, "_qms_meta_saved", ()):
        if doc_id not in last:
            raise ProjectError(f"Internal error: the metadata of {doc_id} changed without an "
                               "audit event; nothing was changed.", doc_id=doc_id)
    for n, (doc_id, record) in enumerate(queue):
        if last[doc_id] == n:
            text = tx.read_text(project.meta_path(doc_id))
            record["state_sha256"] = None if text is None else meta_store.state_sha256(text)
        chain.record(tx, project, project.audit_path(doc_id), doc_id, record)
    queue.clear()


def append_project(tx: Transaction, project: Project, event: str, user: str,
                   **extra: Any) -> None:
    """Project-level changes (users, namespaces, init) go to ``QMS/.audit/project.jsonl``."""
    begin(tx, project, user)
    _record_project(tx, project, {"ts": now_ts(), "event": event, "user": user, **extra})


def begin(tx: Transaction, project: Project, user: str, key_start: str | None = None) -> None:
    """Before a transaction's first event: the signed user registry is checked, or, in a
    project that has none yet, adopted from the agent files (``USER_ADOPT``, recorded
    first, as the first key is: :mod:`qms.store.users`; ``key_start``: recorded again
    under a key started without the previous one)."""
    adopted = users.begin(tx, project, key_start)
    if adopted is not None:
        _record_project(tx, project, {"ts": now_ts(), "event": "USER_ADOPT", "user": user,
                                      **adopted})


def _record_project(tx: Transaction, project: Project, record: dict[str, Any]) -> None:
    from qms.domain import integrity
    from qms.store import chain

    chain.record(tx, project, chain.project_trail(project), integrity.PROJECT_TRAIL, record)


def read(project: Project, doc_id: str, damage: list[str] | None = None,
         tx: Transaction | None = None) -> list[dict[str, Any]]:
    """The events of a document's trail (as ``tx`` sees it, when given: its queued events
    last, with ``seq`` None until the commit chains them). A line that is not
    a JSON object (e.g. torn by a crash, or edited by hand) raises, or, given ``damage``, is
    reported there and skipped."""
    path = project.audit_path(doc_id)
    text = (tx.read_text(path) if tx else project.read_text(path)) or ""
    events = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        event = parse_line(line)
        if event is None:
            problem = (f"Audit trail of {doc_id} is damaged at line {n} ({project.rel(path)}): "
                       "not a JSON object; it was edited outside qms or torn by a crash.")
            if damage is None:
                raise ProjectError(problem, doc_id=doc_id, path=project.rel(path), line=n)
            damage.append(problem)
            continue
        events.append(normalize(event))
    if tx is not None:  # this transaction's events, chained and signed when it commits
        events += [normalize({**record, "seq": None}) for doc, record in
                   getattr(tx, "_qms_doc_events", ()) if doc == doc_id]
    return events


def normalize(event: dict[str, Any]) -> dict[str, Any]:
    """Map the earlier tool's seed schema ``{timestamp, action, details}`` onto ours."""
    if "event" in event:
        return event
    details = event.get("details")
    details = details if isinstance(details, dict) else {}
    return {"ts": event.get("timestamp", ""), "event": str(event.get("action", "?")).upper(),
            "user": event.get("user", "?"), "version": details.get("version", "?"),
            "comment": details.get("message", "")}
