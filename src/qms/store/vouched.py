"""What the signed project trail says: events of ``QMS/.audit/project.jsonl`` believed only
when the chain vouches for them.

An event is *signed* when the chain entry with its ``seq`` (found by a binary search of
``QMS/.audit/chain.jsonl``, a few reads from the middle of the file) is for ``project``, has
the hash of the event's exact line, and carries a valid signature of a trusted key: the
project's first key (``KEY_CREATE``) or a key whose ``KEY_ROTATE`` was itself signed by a
trusted key. This is what authentication (tokens) and settings rest on; ``qms verify``
checks the whole chain besides. The parsed trail is cached per (inode, size, mtime) and
each verified entry once per process, so a long-running server checks a signature once per
change. Importing ``cryptography`` happens only when a signature must be checked.
"""

from __future__ import annotations

import json
import os
import re

from qms.domain import integrity
from qms.store import atomic
from qms.store.jsonl import parse_line
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

_SEQ = re.compile(rb'\{"seq": ([0-9]+),')
_TRAILS: dict[str, tuple[tuple[int, int, int], list[tuple[bytes, dict]]]] = {}
_SIGNED: dict[tuple[str, int, str], bool] = {}  # (chain, seq, line hash) -> verified


def trail_key(project: Project) -> tuple[int, int, int] | None:
    """What changes whenever the project trail does (inode, size, mtime; None: no trail)."""
    try:
        st = os.stat(project.qms / ".audit" / "project.jsonl")
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
            if b'"TOKEN_' not in line and b'"CONFIG_SET"' not in line \
                    and b'"KEY_' not in line and b'"SYSTEM_ADD"' not in line:
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
    chain = str(project.qms / ".audit" / "chain.jsonl")
    key = (chain, seq, integrity.sha256_bytes(line))
    if key not in _SIGNED:
        _SIGNED[key] = _check(project, chain, seq, key[2], doc_id)
    return _SIGNED[key]


def _check(project: Project, chain: str, seq: int, line_sha: str, doc_id: str) -> bool:
    entry = chain_entry(project, chain, seq)
    if entry is None or entry.get("doc_id") != doc_id \
            or entry.get("event_sha256") != line_sha:
        return False
    public = _trusted_keys(project, seq).get(entry.get("key_id"))
    return public is not None and _valid(public, entry)


def _trusted_keys(project: Project, before: int) -> dict[str, str]:
    """key_id -> public key hex of the keys trusted to sign entries up to seq ``before``."""
    ring: dict[str, str] = {}
    for line, e in events(project, "KEY_CREATE", "KEY_ROTATE"):
        if e["seq"] > before:
            break
        if e["event"] == "KEY_CREATE":
            if ring:
                continue  # a second first key vouches for nothing (verify reports it)
        elif not (e.get("endorsed") and e["seq"] < before and signed(project, line, e)):
            continue  # unendorsed: nobody vouches for it (verify: key_unendorsed)
        ring[str(e.get("key_id"))] = str(e.get("public_key"))
    return ring


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
            m = _SEQ.match(line)
            found = int(m.group(1)) if m else -1
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
