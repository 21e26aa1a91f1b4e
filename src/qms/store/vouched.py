"""What the signed project trail says: events of ``QMS/.audit/project.jsonl`` believed only
when the chain vouches for them.

An event is *signed* when the chain entry with its ``seq`` (found by a binary search of
``QMS/.audit/chain.jsonl``, a few reads from the middle of the file) is for ``project``, has
the hash of the event's exact line, and carries a valid signature of a trusted key: the
project's first key (``KEY_CREATE``), a key whose ``KEY_ROTATE`` was itself signed by a
trusted key, or a key this copy holds the private half of (an administrator started it here
without the previous key, or imported it: ``qms key import``). This is what authentication
(tokens), settings, enrollment invites and the user registry rest on; ``qms verify`` checks
the whole chain besides, and reports every key started without the previous one.
:func:`in_chain` is the cheap form for lock-free readers: the chain holds the event's exact
line (no signature checked; every command that acts checks it before it signs). The parsed trail is cached per (inode, size, mtime) and
each verified entry once per process, so a long-running server checks a signature once per
change. Importing ``cryptography`` happens only when a signature must be checked.
"""

from __future__ import annotations

import json
import os

from qms.domain import integrity
from qms.errors import QMSError
from qms.store import atomic
from qms.store.jsonl import parse_line
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

_TRAILS: dict[str, tuple[tuple[int, int, int], list[tuple[bytes, dict]]]] = {}
_SIGNED: dict[tuple[str, int, str], bool] = {}  # (chain, seq, line hash) -> verified
# the project events anything is decided by (the other lines are never parsed here)
_MARKS = (b'"TOKEN_', b'"CONFIG_SET"', b'"KEY_', b'"USER_', b'"PASSKEY_', b'"SYSTEM_ADD"',
          b'"CODE_MERGE"', b'"GENESIS_PUSH"')


def trail_key(project: Project) -> tuple[int, int, int] | None:
    """What changes whenever the project trail does (inode, size, mtime; None: no trail)."""
    try:
        st = os.stat(os.path.join(str(project.qms), ".audit", "project.jsonl"))
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def events(project: Project, *kinds: str) -> list[tuple[bytes, dict[str, Any]]]:
    """``(line, event)`` of the project trail's chained events of these kinds, in order
    (at face value: :func:`signed` says whether to believe one)."""
    path = str(project.qms / ".audit" / "project.jsonl")
    key = trail_key(project)
    if key is None:
        return []
    cached = _TRAILS.get(path)
    if cached is None or cached[0] != key:
        found = []
        for line in integrity.lines_of(atomic.read_bytes(path, project.root) or b""):
            if not any(mark in line for mark in _MARKS):
                continue
            event = parse_line(line)  # None: damaged, which verify reports
            if event is not None and integrity.is_chained(event):
                found.append((line, event))
        cached = (key, found)
        _TRAILS[path] = cached  # one assignment: atomic for the server's threads
    return [(line, e) for line, e in cached[1] if e.get("event") in kinds]


def signed(project: Project, line: bytes, event: dict[str, Any],
           doc_id: str = integrity.PROJECT_TRAIL) -> bool:
    """Whether the chain holds this exact event of ``doc_id``'s trail (the project trail by
    default), signed by a trusted key."""
    seq = event.get("seq")
    if not isinstance(seq, int):
        return False
    key = (str(project.qms / ".audit" / "chain.jsonl"), seq, integrity.sha256_bytes(line))
    if key not in _SIGNED:
        entry = in_chain(project, line, event, doc_id)
        public = _trusted_keys(project, seq).get(entry.get("key_id")) if entry else None
        _SIGNED[key] = public is not None and _valid(public, entry)
    return _SIGNED[key]


def unsigned(project: Project, doc_id: str, wanted: list[dict[str, Any]]) -> list[dict]:
    """Those of ``wanted`` (events of ``doc_id``'s trail, as read) that the chain does not
    vouch for: no line of the trail with their ``seq`` and content, or not signed."""
    seqs = {e.get("seq") for e in wanted}
    lines: dict[int, bytes] = {}
    for line in integrity.lines_of(atomic.read_bytes(project.audit_path(doc_id), project.root)
                                   or b""):
        event = parse_line(line)
        if event is not None and event.get("seq") in seqs:
            lines.setdefault(event["seq"], line)
    bad = []
    for e in wanted:
        line = lines.get(e.get("seq"))  # type: ignore[arg-type]
        if line is None or parse_line(line) != e or not signed(project, line, e, doc_id):
            bad.append(e)
    return bad


def in_chain(project: Project, line: bytes, event: dict[str, Any],
             doc_id: str = integrity.PROJECT_TRAIL) -> dict[str, Any] | None:
    """The chain entry of this exact event of ``doc_id``'s trail (its ``seq``, that
    document, the hash of its line), else None. No signature is checked."""
    seq = event.get("seq")
    if not isinstance(seq, int):
        return None
    entry = chain_entry(project, str(project.qms / ".audit" / "chain.jsonl"), seq)
    if entry is None or entry.get("doc_id") != doc_id \
            or entry.get("event_sha256") != integrity.sha256_bytes(line):
        return None
    return entry


def _trusted_keys(project: Project, before: int) -> dict[str, str]:
    """key_id -> public key hex of the keys trusted to sign entries up to seq ``before``."""
    ring: dict[str, str] = {}
    for line, e in events(project, "KEY_CREATE", "KEY_ROTATE"):
        if e["seq"] > before:
            break
        if e["event"] == "KEY_CREATE":
            if ring:
                continue  # a second first key vouches for nothing (verify reports it)
        elif not (e.get("endorsed") and e["seq"] < before and signed(project, line, e)) \
                and not _held(project, e):
            continue  # unendorsed and not ours: nobody vouches for it (verify: key_unendorsed)
        ring[str(e.get("key_id"))] = str(e.get("public_key"))
    return ring


def _held(project: Project, event: dict[str, Any]) -> bool:
    """Whether this copy holds the private half of the key an event introduced (only an
    administrator with access to ``.qms/keys/`` can have put it there)."""
    from qms.store import keys

    try:
        signer = keys.signer(project, str(event.get("key_id")))
    except QMSError:  # a damaged key file vouches for nothing
        return False
    return signer is not None and signer.public_hex() == event.get("public_key")


def _valid(public_hex: str, entry: dict[str, Any]) -> bool:
    from qms.store import keys

    try:
        message = integrity.chain_message(entry["seq"], entry["doc_id"],
                                          entry["event_sha256"], entry.get("prev_sha256"),
                                          entry["key_id"])
        return keys.verifier(public_hex)(str(entry.get("sig")), message)
    except (KeyError, TypeError, ValueError):
        return False


def chain_entry(project: Project, chain: str, seq: int) -> dict[str, Any] | None:
    """The chain entry with this ``seq``: a binary search over the file's byte offsets
    (its lines are in ``seq`` order), O(log n) short reads."""
    opened = atomic.open_regular(chain, project.root)
    if opened is None:
        return None
    fd, info = opened
    try:
        lo, hi = 0, info.st_size
        while lo < hi:
            mid = (lo + hi) // 2
            start, line = _line_after(fd, mid)
            if line is None:
                hi = mid
                continue
            found = _seq_of(line)
            if found == seq:
                try:
                    entry = json.loads(line)
                except ValueError:
                    return None
                return entry if isinstance(entry, dict) else None
            if found < seq:
                lo = start + len(line) + 1
            else:
                hi = mid
        return None
    finally:
        os.close(fd)


def _seq_of(line: bytes) -> int:
    """The ``seq`` a chain line starts with (-1: not a chain line as qms writes it)."""
    end = line.find(b",", 8) if line.startswith(b'{"seq": ') else -1
    digits = line[8:end]
    return int(digits) if end > 8 and digits.isdigit() else -1


def _line_after(fd: int, offset: int) -> tuple[int, bytes | None]:
    """The first whole line starting at or after ``offset`` (its start, its bytes)."""
    if offset:
        data = os.pread(fd, 8192, offset - 1)
        nl = data.find(b"\n")
        if nl < 0:
            return offset, None
        start = offset + nl
    else:
        start = 0
    data = os.pread(fd, 8192, start)
    end = data.find(b"\n")
    if end < 0:
        return start, data if data.strip() else None
    return start, data[:end]
