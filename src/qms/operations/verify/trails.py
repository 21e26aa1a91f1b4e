"""``qms verify``: each document's trail against the chain, its files and its metadata.

Every trail: each chained event links to the previous line, the first one after lines of
the earlier tool anchors their hash, and the trail's chained events are exactly the chain's
entries for that document, in order, with the same hashes (nothing edited, inserted,
removed, reordered, copied or rolled back; no document deleted). Then the document's texts
(:mod:`.files`) and its metadata against the replayed trail (:mod:`.state`). A large project
is split across worker processes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from qms.domain import doctypes, integrity
from qms.errors import ProjectError, QMSError
from qms.operations.verify import files as files_check, state
from qms.operations.verify.check import COUNTERS, PROJECT, SIGNING, Check, pairs, parse
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

ABSENT = "absent"  # a document whose trail is gone: the chain decides what that means


def check_docs(root: str, doc_ids: list[str], anchor: dict[str, str] | None,
               archives: dict[str, list], signing: bool = False) -> tuple[list, list[int]]:
    """Check some documents as far as that needs no chain (a worker's task, or the
    caller's): per document ``(doc_id, findings, at, trail, signed)``, where the
    comparison with the chain (:func:`compare`) goes at ``findings[at]``, ``trail`` is
    what it compares (the trail's ``(seqs, hashes)``, :func:`.check.pairs`; :data:`ABSENT`;
    None: nothing to compare), and ``signed`` the ``(line, event)`` of events signed with a
    passkey (with ``signing``, a passkey policy was ever set: every signature of
    :data:`SIGNING` too); plus the counters (``COUNTERS``)."""
    check = Check(Project(Path(root)))
    check.anchor, check.archives, check.signing = anchor, archives, signing
    try:
        reports = [check_doc(check, doc_id) for doc_id in doc_ids]
    finally:
        check.close()
    return reports, [getattr(check, name) for name in COUNTERS]


def check_doc(check: Check, doc_id: str) -> tuple:
    """One document's report (see :func:`check_docs`); a link or special file among its
    files is itself a finding."""
    check.findings, check.slot, check.signed = [], None, []
    try:
        _check_doc_files(check, doc_id)
    except ProjectError as err:
        path = err.details.get("path", "")
        check.find(doc_id, "not_a_file", err.message, check.rel(path) if path else "")
    at, trail = check.slot or (len(check.findings), None)
    return doc_id, check.findings, at, trail, check.signed


def _check_doc_files(check: Check, doc_id: str) -> None:
    try:
        files = check.files(doc_id)
    except QMSError:  # not a valid document ID (e.g. a stray file name)
        check.find(doc_id, "unknown", "a file or chain entry names an invalid document ID")
        return
    where = check.rel(files["trail"])
    data = check.read(files["trail"])
    if data is None:
        check.slot = (len(check.findings), ABSENT)
        if doc_id != PROJECT and os.path.exists(files["meta"]):
            check.find(doc_id, "meta", "metadata without an audit trail", where)
        return
    events = _check_trail(check, doc_id, data, where)
    if doc_id != PROJECT and events is not None:
        _check_state(check, doc_id, files, events)
        files_check.check_content(check, doc_id, files, events, check.archives.get(doc_id, []))


def compare(check: Check, doc_id: str, trail: tuple[list, str] | str) -> None:
    """The document's trail against the chain's entries for it (:func:`check_doc` left
    the place for these findings)."""
    expected = check.chain_docs.get(doc_id, ([], ""))
    if trail == expected:
        return
    where = check.rel(check.files(doc_id)["trail"])
    if trail != ABSENT:
        _compare_with_chain(check, doc_id, pairs(trail), pairs(expected), where)
    elif expected[0]:
        check.find(doc_id, "missing", f"the audit trail is gone but the chain has "
                   f"{len(expected[0])} event(s) of this document (deleted or rolled back)",
                   where)
    elif check.anchor and doc_id in check.anchor:
        check.find(doc_id, "missing", "the trail of the earlier tool recorded with the "
                   "project's first signing key is gone (deleted)", where)


def _check_trail(check: Check, doc_id: str, data: bytes, where: str) -> list[dict] | None:
    lines = integrity.lines_of(data)
    events: list[dict] = []
    seqs: list[Any] = []
    hashes: list[str] = []
    prev: str | None = None
    legacy = chained = esignatures = 0
    prefix = len(lines)  # lines before the first chained event
    damaged = flagged = False
    signed, signing = check.signed, check.signing
    for n, line in enumerate(lines, 1):
        line_sha = hashlib.sha256(line).hexdigest()  # OpenSSL's: faster over many lines
        try:
            event = parse(line)
            if type(event) is not dict:
                raise ValueError
        except ValueError:
            check.find(doc_id, "damaged", f"line {n} is not a JSON event (edited outside qms)",
                       f"{where}:{n}")
            damaged = True
            prev = line_sha
            continue
        if "seq" in event:  # integrity.is_chained
            if event.get("prev_sha256") != prev:
                check.find(doc_id, "trail", f"event {n} ({event.get('event')}, seq "
                           f"{event.get('seq')}) does not link to the line before it: events "
                           "were edited, inserted, removed or reordered", f"{where}:{n}")
            if not chained:
                prefix = n - 1
                if n > 1 and event.get("prefix_sha256") != integrity.prefix_sha256(lines[:n - 1]):
                    check.find(doc_id, "legacy_prefix", "the events written by the earlier "
                               "tool were changed after this trail's first chained event "
                               "anchored them", f"{where}:1-{n - 1}")
                    flagged = True
            chained += 1
            seqs.append(event["seq"])
            hashes.append(line_sha)
            if event.get("meaning"):
                esignatures += 1
        else:
            if chained:
                check.find(doc_id, "trail", f"event {n} has no chain fields but follows chained "
                           "events: it was added outside qms", f"{where}:{n}")
            legacy += 1
        if "passkey" in event or (signing and event.get("event") in SIGNING):
            signed.append((n, event))
        events.append(event)
        prev = line_sha
    check.events += len(events)
    check.chained += chained
    check.esignatures += esignatures
    if legacy:
        check.legacy += legacy
        check.legacy_docs += 1
    if prefix and check.anchor is not None and not flagged:
        _check_anchored(check, doc_id, lines[:prefix], where)
    check.slot = (len(check.findings), (seqs, "".join(hashes)))
    return None if damaged else events


def _check_anchored(check: Check, doc_id: str, prefix: list[bytes], where: str) -> None:
    """Lines of the earlier tool must be exactly those there when the first key was made."""
    known = check.anchor.get(doc_id)
    if known is None:
        check.find(doc_id, "legacy", f"{len(prefix)} line(s) without chain fields that were "
                   "not there when the project's first signing key was made: written outside "
                   "qms", f"{where}:1-{len(prefix)}")
    elif integrity.prefix_sha256(prefix) != known:
        check.find(doc_id, "legacy_prefix", "the events written by the earlier tool changed "
                   "after the project's first signing key recorded them", f"{where}:1-{len(prefix)}")


def _compare_with_chain(check: Check, doc_id: str, got: list[tuple[int, str]],
                        expected: list[tuple[int, str]], where: str) -> None:
    if got == expected:
        return
    chain_hash = dict(expected)
    for seq, sha in got:
        if seq not in chain_hash:
            check.find(doc_id, "not_in_chain", f"event seq {seq} is not in the project chain "
                       "for this document: forged, copied or replayed", where)
        elif chain_hash[seq] != sha:
            check.find(doc_id, "changed", f"event seq {seq} differs from the hash the chain "
                       "recorded: it was edited", where)
    have = {seq for seq, _ in got}
    missing = [seq for seq, _ in expected if seq not in have]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        check.find(doc_id, "missing", f"{len(missing)} event(s) recorded in the chain are not "
                   f"in the trail (seq {shown}): removed, or the document was rolled back",
                   where)
    order = [seq for seq, _ in got if seq in chain_hash]
    if order != sorted(order) or len(set(order)) != len(order):
        check.find(doc_id, "order", "events are out of order or repeated", where)


def _check_state(check: Check, doc_id: str, files: dict[str, str],
                 events: list[dict]) -> None:
    meta_text = check.read(files["meta"])
    if meta_text is None:
        if events and events[-1].get("event") != "CANCEL":
            check.find(doc_id, "meta", "metadata is missing but the trail does not end with "
                       "CANCEL (deleted)", check.rel(files["meta"]))
        return
    try:
        meta = parse(meta_text)
        if not isinstance(meta, dict):
            raise ValueError
    except ValueError:
        check.find(doc_id, "meta", "metadata is not valid JSON", check.rel(files["meta"]))
        return
    if not any(integrity.is_chained(e) for e in events):
        return
    reported = len(check.findings)
    _check_replay(check, doc_id, files, meta, events)
    state.check_meta(check, doc_id, check.rel(files["meta"]), meta, events, reported,
                            meta_text)


def _check_replay(check: Check, doc_id: str, files: dict[str, str], meta: dict,
                  events: list[dict]) -> None:
    state = integrity.replay(events, meta.get("doc_type") or doctypes.type_of(doc_id))
    reliable = {"version": integrity.is_chained(events[-1])}
    setters = [e for e in events if e.get("event") in ("STATUS_CHANGE", "CREATE", "CANCEL")]
    reliable["status"] = bool(setters) and integrity.is_chained(setters[-1])
    reliable["checked_out"] = reliable["responsible_user"] = all(
        integrity.is_chained(e) for e in events)
    where = check.rel(files["meta"])
    for key, ok in reliable.items():
        if ok and key in state and state[key] != meta.get(key):
            check.find(doc_id, "meta", f"{key} is {meta.get(key)!r} but the audit trail says "
                       f"{state[key]!r}", where, field=key)
