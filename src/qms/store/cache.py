"""A bounded cache of things made from the records (the dossiers of ``qms export``), under
``.qms/cache/{kind}/``: made again at will, so never journaled, never synced, never
committed (``.qms/`` is not).

An entry is believed only when it carries the HMAC of its key and content under a secret
derived from this copy's signing key (``keys.local_secret``): who can write the project's
files but not read its key cannot plant or edit an entry that would be served. A copy
without a key caches nothing. Entries are written atomically (``store.atomic``: no link
followed, no special file read); the oldest go when a kind holds more than
:data:`MAX_BYTES` or :data:`MAX_ENTRIES`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from qms.errors import QMSError
from qms.store import atomic, keys
from qms.store.project import Project

MAX_BYTES = 256_000_000
MAX_ENTRIES = 500
_TAG = 32  # bytes of HMAC-SHA256 before the content
_KEY = re.compile(r"[0-9a-f]{64}")


def get(project: Project, kind: str, key: str) -> bytes | None:
    """The content stored under ``key`` (a hex SHA-256), or None (absent, or not made by
    this copy's key)."""
    secret = keys.local_secret(project, f"qms cache {kind}")
    if secret is None or not _KEY.fullmatch(key):
        return None
    try:
        stored = atomic.read_bytes(_folder(project, kind) / key, project.root)
    except (OSError, QMSError):
        return None
    if stored is None or len(stored) < _TAG:
        return None
    import hmac

    content = stored[_TAG:]
    return content if hmac.compare_digest(stored[:_TAG], _tag(secret, key, content)) else None


def put(project: Project, kind: str, key: str, content: bytes) -> None:
    """Keep ``content`` under ``key``; a cache that cannot be written is no cache."""
    secret = keys.local_secret(project, f"qms cache {kind}")
    if secret is None or not _KEY.fullmatch(key):
        return
    folder = _folder(project, kind)
    try:
        atomic.write_bytes(folder / key, _tag(secret, key, content) + content, project.root)
        _trim(folder, project.root)
    except (OSError, QMSError):
        pass


def _folder(project: Project, kind: str) -> Path:
    return project.state_dir / "cache" / kind


def _tag(secret: bytes, key: str, content: bytes) -> bytes:
    import hmac

    return hmac.new(secret, key.encode() + b"\0" + content, "sha256").digest()


def _trim(folder: Path, root: Path) -> None:
    """Remove the oldest entries until the folder is within bounds."""
    entries = []
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.is_file(follow_symlinks=False) and _KEY.fullmatch(entry.name):
                info = entry.stat(follow_symlinks=False)
                entries.append((info.st_mtime, info.st_size, entry.name))
    entries.sort(reverse=True)
    total = 0
    for n, (_, size, name) in enumerate(entries):
        total += size
        if n >= MAX_ENTRIES or total > MAX_BYTES:
            atomic.unlink(folder / name, root)
