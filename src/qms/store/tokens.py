"""Per-user bearer tokens: ``<root>/.qms/tokens.json`` (mode 0600, outside ``QMS/``).

Only a SHA-256 hash of each secret is stored. A secret reads ``qms_<id>_<random>``: the id
finds the entry, the hash is compared in constant time. :func:`authenticate` is what every
adapter calls; it re-reads the file only when it changed (inode, size, mtime), so a
revocation or an expiry counts from the very next call at the cost of one ``stat``.
Writers (:func:`save`) must hold the project lock.

The file is a cache of the signed project trail: an entry authenticates only when a signed
``TOKEN_ISSUE`` (:mod:`qms.store.vouched`) records its id, user, expiry and hash
(``token_sha256``; the hash is no secret) and no ``TOKEN_REVOKE`` names it (:func:`vouch`).
A token issued before events recorded the hash is not vouched for: re-issue it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path

from qms.errors import ProjectError
from qms.store import atomic
from qms.store.project import Project

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PREFIX = "qms_"
SECRET_RE = re.compile(r"^qms_([0-9a-f]{8})_[A-Za-z0-9_-]{43}\Z")
ENV_TOKEN, ENV_TOKEN_FILE = "QMS_TOKEN", "QMS_TOKEN_FILE"


def path(project: Project) -> Path:
    return project.state_dir / "tokens.json"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    """A fresh ``(token_id, secret)``: 32 random bytes, recognisable by its ``qms_`` prefix."""
    token_id = secrets.token_hex(4)
    return token_id, f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


# -- reading ------------------------------------------------------------------------------
def load(project: Project) -> list[dict[str, Any]]:
    """Every token entry (no secrets: ids, users, labels, hashes, dates)."""
    text = project.read_text(path(project))  # no link, no FIFO (atomic)
    if text is None:
        return []
    try:
        tokens = json.loads(text)["tokens"]
        if not isinstance(tokens, list) or not all(isinstance(t, dict) for t in tokens):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ProjectError(f"The token store {path(project)} is damaged; it was edited "
                           "outside qms.") from None
    return tokens


class _Cache:
    """Parsed store per file, keyed by what an atomic replace or an edit always changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[Path, tuple[tuple[int, int, int], dict[str, dict[str, Any]]]] = {}


_CACHE = _Cache()


def _index(project: Project) -> dict[str, dict[str, Any]]:
    """``token_id -> entry`` of the current file (empty when there is none)."""
    file = path(project)
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return {}
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _CACHE.entries.get(file)
    if cached is not None and cached[0] == key:
        return cached[1]
    index = {t.get("id"): {**t, "_expires": _epoch(t.get("expires"))} for t in load(project)}
    with _CACHE.lock:
        _CACHE.entries[file] = (key, index)
    return index


def _epoch(ts: str | None) -> float | None:
    if not ts:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(ts).timestamp()
    except (TypeError, ValueError):
        raise ProjectError(f"The token store has a bad expiry date {ts!r}; it was edited "
                           "outside qms.") from None


def verify(project: Project, secret: str) -> dict[str, Any] | None:
    """The entry of a valid (known, unrevoked, unexpired) token, else None."""
    secret = secret.strip() if isinstance(secret, str) else ""
    match = SECRET_RE.match(secret)
    if match is None:
        return None
    entry = _index(project).get(match.group(1))
    stored = str(entry.get("hash", "")).encode() if entry else b""
    if entry is None or not hmac.compare_digest(stored, digest(secret).encode()):
        return None
    if state(entry) != "active":
        return None
    from qms.store import vouched

    key = vouched.trail_key(project)  # the entry is cached until the store changes
    if entry.get("_vouched", (None,))[0] != key or key is None:
        entry["_vouched"] = (key, vouch(project, entry))
    return entry if entry["_vouched"][1] == "ok" else None


def vouch(project: Project, entry: dict[str, Any]) -> str:
    """``ok`` when the signed trail vouches for the entry, else why not: ``unissued`` (no
    TOKEN_ISSUE records it as it is: added or edited by hand), ``legacy`` (issued before
    TOKEN_ISSUE recorded the hash), ``revoked`` (a TOKEN_REVOKE names it) or ``unsigned``
    (the chain does not vouch for its TOKEN_ISSUE)."""
    from qms.store import vouched

    token_id = entry.get("id")
    issued = [(line, e) for line, e in vouched.events(project, "TOKEN_ISSUE")
              if e.get("token_id") == token_id]
    if issued and not any("token_sha256" in e for _, e in issued):
        return "legacy"
    issued = [(line, e) for line, e in issued if e.get("token_sha256") == entry.get("hash")
              and e.get("for_user") == entry.get("user")
              and e.get("expires") == entry.get("expires")]
    if not issued:
        return "unissued"
    if any(e.get("token_id") == token_id for _, e in vouched.events(project, "TOKEN_REVOKE")):
        return "revoked"  # believed unsigned too: a forged revocation only locks out
    return "ok" if any(vouched.signed(project, line, e) for line, e in issued) else "unsigned"


def state(entry: dict[str, Any]) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if entry.get("revoked"):
        return "revoked"
    expires = entry["_expires"] if "_expires" in entry else _epoch(entry.get("expires"))
    return "expired" if expires is not None and expires <= time.time() else "active"


def authenticate(project: Project, secret: str) -> str | None:
    """The user of a valid, unrevoked, unexpired token, else None."""
    entry = verify(project, secret)
    return entry["user"] if entry else None


def secret_from_env(token_file: str | None = None,
                    env: dict[str, str] | None = None) -> str | None:
    """The caller's secret: ``token_file``, else ``$QMS_TOKEN_FILE``, else ``$QMS_TOKEN``
    (a trailing newline, as a Docker secret file has, is ignored)."""
    env = os.environ if env is None else env
    file = token_file or env.get(ENV_TOKEN_FILE)
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError(f"Cannot read the token file {file}: "
                               f"{getattr(exc, 'strerror', None) or exc}.") from None
    return env.get(ENV_TOKEN, "").strip() or None


# -- writing (caller holds the project lock) -----------------------------------------------
def save(project: Project, tokens: list[dict[str, Any]]) -> None:
    """Replace the store atomically; the file is created 0600 (only its owner reads it)."""
    file = path(project)
    atomic.write_durable(file, json.dumps({"version": 1, "tokens": tokens}, indent=2).encode(),
                         mode=0o600, root=project.root)
