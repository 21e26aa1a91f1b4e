"""Workflow state sidecar ``.meta/{TYPE}/{ID}.json``. Unknown keys are preserved.

The file is a cache of the signed audit trail: the last event of every transaction that
changes a document records ``state_sha256``, the hash of the metadata it left
(:func:`state_sha256`), and :func:`load` compares the file with the trail's last line (one
read from its end, no replay). A file edited outside qms is refused; ``qms verify ID``
names the fields that differ. Trails whose last event predates the field are trusted as
before (verify replays what it can).
"""

from __future__ import annotations

import json
import os
import re

from qms.domain.integrity import sha256_bytes, sha256_text
from qms.errors import NotFound, ProjectError
from qms.store import atomic
from qms.store.jsonl import last_line_of, parse_line
from qms.store.project import Project
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any


def load(project: Project, doc_id: str, tx: Transaction | None = None) -> dict[str, Any]:
    path = project.meta_path(doc_id)
    for attempt in range(3):
        if tx is None:  # a reader: parsed again only when the file changed (atomic.cached)
            read = atomic.cached(path, project.root, _PARSED, lambda fd, info: _parsed(
                atomic.decode(atomic.read_all(fd, info), project.root, path), doc_id))
        else:
            text = tx.read_text(path)
            read = None if text is None else _parsed(text, doc_id)
        if read is None:
            if project.audit_path(doc_id).is_file():  # meta gone, trail kept: cancelled
                raise NotFound(f"Document {doc_id} not found: it was cancelled (its audit "
                               f"trail is kept: qms history {doc_id}).", doc_id=doc_id)
            raise NotFound(f"Document {doc_id} not found.", doc_id=doc_id)
        digest, meta, problem = read
        if problem:
            raise _damaged(project, doc_id, path, problem)
        if tx is not None and tx.writes(path):
            break
        if tx is not None and _check_trail(project, doc_id, digest, meta):
            break
        if tx is None and _agrees(recorded_state(project, doc_id), digest, meta):
            meta = _copy(meta)  # the kept parse is shared
            break
        if tx is not None or (attempt == 2 and not _committing(project)):
            _refuse_torn(project, doc_id)
            rel = project.rel(path)
            raise ProjectError(
                f"The metadata of {doc_id} ({rel}) does not match its signed audit trail: it "
                f"was edited outside qms. Nothing was changed. Run 'qms verify {doc_id}' to see "
                "which fields differ, and restore the file from version control.",
                doc_id=doc_id, path=rel)
        # a lock-free reader may have read the file just before a commit: read again
    meta.setdefault("doc_id", doc_id)
    meta.setdefault("pending_assignees", [])
    return meta


def state_sha256(meta: str | dict[str, Any]) -> str:
    """SHA-256 of a metadata object (or of the JSON text of one) in its canonical form: the
    text :func:`save` writes (so the hash of an untouched file is the hash of its text; a
    file only re-indented or given other line ends still matches)."""
    obj = json.loads(meta) if isinstance(meta, str) else meta
    return sha256_text(json.dumps(obj, indent=2, ensure_ascii=False))


_STATE = re.compile(rb'"state_sha256": (?:"([0-9a-f]{64})"|null)')


def recorded_state(project: Project, doc_id: str) -> str | None:
    """The ``state_sha256`` of the document's last event: None when the trail predates it,
    "" when that event left no metadata (CANCEL). Read from the end of the trail (the line
    is written by qms with ``json.dumps``, where a quote inside a value is always escaped,
    so the key is found without parsing the line); a damaged last line is skipped. Read
    again only when the trail changed (atomic.cached)."""
    return atomic.cached(project.audit_path(doc_id), project.root, _RECORDED, _recorded_of)


def _recorded_of(fd: int, info) -> str | None:
    line = last_line_of(fd, info)
    if line is not None and _STATE.search(line) is None and parse_line(line) is None:
        line = _last_event(os.pread(fd, info.st_size, 0))
    return _recorded(line)


_PARSED: dict = {}  # meta file -> (identity, (digest, meta, problem)): see load
_RECORDED: dict = {}  # trail -> (identity, state_sha256 of its last event)


def _parsed(text: str, doc_id: str) -> tuple[str, Any, str | None]:
    """(SHA-256 of the text, the parsed object, what makes it unusable or None)."""
    try:
        meta = json.loads(text)
    except ValueError as exc:
        return "", None, f"not valid JSON ({exc})"
    return sha256_text(text), meta, _problem(meta, doc_id)


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _recorded(line: bytes | None) -> str | None:
    found = _STATE.search(line) if line is not None else None
    if found is None:
        return None
    return found.group(1).decode() if found.group(1) else ""


def _last_event(data: bytes) -> bytes | None:
    """The trail's last line that is a JSON object (damaged lines are verify's findings and
    never decide anything here)."""
    for line in reversed(data.split(b"\n")):
        if line.strip() and parse_line(line) is not None:
            return line
    return None


def _agrees(recorded: str | None, digest: str, meta: dict[str, Any]) -> bool:
    """Whether the meta (``digest``: SHA-256 of its text) is the state the trail recorded."""
    return recorded is None or recorded == digest or recorded == state_sha256(meta)


def _check_trail(project: Project, doc_id: str, digest: str, meta: dict[str, Any]) -> bool:
    """For a command about to act (under the lock): whether the metadata is the state the
    trail's last event recorded; refused when that event is not the chain's entry with its
    ``seq``, or is an unchained line after chained ones (appended by hand, e.g. to vouch for
    edited metadata or to make the trail look older than ``state_sha256``). The chain's own
    last entry is checked for its signature before anything is signed over it
    (store/chain.py)."""
    from qms.store import vouched

    path = project.audit_path(doc_id)
    data = atomic.read_bytes(path, project.root) or b""
    line = _last_event(data)
    if line is None:
        return True
    event = json.loads(line)
    if isinstance(event.get("seq"), int):
        entry = vouched.chain_entry(project, str(project.qms / ".audit" / "chain.jsonl"),
                                    event["seq"])
        if entry is not None and entry.get("doc_id") == doc_id and \
                entry.get("event_sha256") == sha256_bytes(line):
            return _agrees(_recorded(line), digest, meta)
    elif b'"seq": ' not in data:
        return True  # only lines of the earlier tool: nothing signed to compare with
    rel = project.rel(path)
    raise ProjectError(
        f"The last event of {doc_id}'s audit trail ({rel}) is not in the signed audit chain: "
        f"it was written outside qms. Nothing was changed. Run 'qms verify {doc_id}' to see "
        "it, and restore the trail from version control.", doc_id=doc_id, path=rel)


def _refuse_torn(project: Project, doc_id: str) -> None:
    """When the trail's last line is damaged (torn, not JSON), that is what to name: the
    metadata may be exactly what the lost event recorded."""
    path = project.audit_path(doc_id)
    lines = (atomic.read_bytes(path, project.root) or b"").split(b"\n")
    number = max((n for n, line in enumerate(lines, 1) if line.strip()), default=0)
    if number and parse_line(lines[number - 1]) is None:
        rel = project.rel(path)
        raise ProjectError(
            f"The audit trail of {doc_id} ({rel}) is damaged at line {number}, its last line: "
            "not a JSON object (torn, or edited outside qms), so the signed trail no longer "
            f"vouches for the metadata. Nothing was changed. Run 'qms verify {doc_id}' to see "
            "it, and restore the trail from version control.", doc_id=doc_id, path=rel,
            line=number)


def _committing(project: Project) -> bool:
    """A commit is under way (or was interrupted): its files may be half-written."""
    from qms.store import transaction

    return transaction.pending(project.journal)


# key -> (accepted types, required)
_SHAPE = {"version": (str, True), "status": (str, True), "doc_id": (str, False),
          "doc_type": (str, False), "responsible_user": ((str, type(None)), False),
          "pending_assignees": (list, False), "review_outcomes": ((dict, type(None)), False),
          "checked_out": ((bool, type(None)), False),
          "effective_version": ((str, type(None)), False),
          "checkout_from_version": ((str, type(None)), False)}


def _problem(meta: Any, doc_id: str) -> str | None:
    """What is wrong with a parsed meta file (None: usable)."""
    if not isinstance(meta, dict):
        return f"expected a JSON object, found {type(meta).__name__}"
    for key, (kinds, required) in _SHAPE.items():
        if key not in meta:
            if required:
                return f"the key '{key}' is missing"
        elif not isinstance(meta[key], kinds):
            return f"'{key}' has the wrong type ({type(meta[key]).__name__})"
    if not all(isinstance(u, str) for u in meta.get("pending_assignees") or []):
        return "'pending_assignees' must list user names"
    if meta.get("doc_id", doc_id) != doc_id:
        return f"it describes {meta['doc_id']!r}, not {doc_id}"
    return None


def _damaged(project: Project, doc_id: str, path, why: str) -> ProjectError:
    rel = project.rel(path)
    return ProjectError(f"Metadata of {doc_id} is damaged ({rel}): {why}. Restore it from "
                        "version control, or repair it by hand.", doc_id=doc_id, path=rel)


def exists(project: Project, doc_id: str, tx: Transaction | None = None) -> bool:
    path = project.meta_path(doc_id)
    return tx.exists(path) if tx else path.exists()


def save(tx: Transaction, project: Project, meta: dict[str, Any]) -> None:
    """Stage the metadata; the document's next event in this transaction records its hash."""
    tx.write_json(project.meta_path(meta["doc_id"]), meta)
    saved = getattr(tx, "_qms_meta_saved", None)
    if saved is None:
        saved = tx._qms_meta_saved = set()
    saved.add(meta["doc_id"])


def new(doc_id: str, doc_type: str, *, executable: bool, user: str, today: str,
        version: str = "0.1", status: str = "DRAFT", phase: str | None = None) -> dict[str, Any]:
    return {
        "doc_id": doc_id, "doc_type": doc_type, "version": version, "status": status,
        "executable": executable, "execution_phase": phase, "responsible_user": user,
        "checked_out": True, "checked_out_date": today, "effective_version": None,
        "pending_assignees": [], "review_outcomes": {},
    }
