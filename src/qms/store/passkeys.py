"""Enrolled passkeys (WebAuthn credentials) and one-time enrollment codes.

* ``QMS/.passkeys/{cred}.json``: one enrolled credential (public data, committed, so anyone
  can re-check a passkey signature offline): ``cred`` (the short ID: first 16 hex digits
  of the SHA-256 of the credential ID), ``user``, ``credential_id`` and ``public_key``
  (COSE, base64url), ``aaguid``, ``rp_id``, ``created``, ``invite``, and ``sign_count`` (the
  last one accepted; the only field a signature changes). Each file must agree with the
  ``PASSKEY_ENROLL`` event of the project trail that recorded it (``check``).
* enrollment codes live nowhere but in the signed trail: ``PASSKEY_INVITE`` records the
  SHA-256 of a code (no secret: the code has 256 random bits), its user and expiry; a code
  is live while its invite is signed, unexpired and no ``PASSKEY_ENROLL`` names it
  (:func:`invite`). (``.qms/passkey-invites.json``, written by earlier versions, decides
  nothing.)

Writers hold the project lock (they go through a transaction).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from pathlib import Path

from qms.errors import ProjectError
from qms.store.jsonl import parse_line
from qms.store.project import Project

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CRED_RE = re.compile(r"^[0-9a-f]{16}\Z")
# the fields a PASSKEY_ENROLL event records and the credential file must repeat exactly
BOUND = ("cred", "user", "credential_id", "public_key", "aaguid", "rp_id")


def folder(project: Project) -> Path:
    return project.qms / ".passkeys"


def path(project: Project, cred: str) -> Path:
    if not CRED_RE.match(cred or ""):
        raise ProjectError(f"Not a credential ID: {cred!r} (16 hex digits, see qms passkey list).")
    return folder(project) / f"{cred}.json"


def short_id(credential_id: bytes) -> str:
    return hashlib.sha256(credential_id).hexdigest()[:16]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def new_code() -> str:
    return secrets.token_urlsafe(32)


def load(project: Project, cred: str, tx: Any = None) -> dict[str, Any] | None:
    file = path(project, cred)
    text = tx.read_text(file) if tx is not None else project.read_text(file)
    if text is None:
        return None
    try:
        entry = json.loads(text)
        if not isinstance(entry, dict) or entry.get("cred") != cred:
            raise ValueError
    except ValueError:
        raise ProjectError(f"The passkey file {project.rel(file)} is damaged; it was edited "
                           "outside qms.", path=str(file)) from None
    return entry


def all_creds(project: Project) -> list[str]:
    """The short IDs of every credential file (sorted)."""
    base = folder(project)
    if not base.is_dir() or base.is_symlink():
        return []
    return sorted(p.stem for p in base.iterdir() if p.suffix == ".json" and CRED_RE.match(p.stem))


def save(tx: Any, project: Project, entry: dict[str, Any]) -> None:
    tx.write_text(path(project, entry["cred"]),
                  json.dumps(entry, indent=2, ensure_ascii=False) + "\n")


def enrolled(project: Project, events: list[dict[str, Any]] | None = None) -> dict[str, dict]:
    """Credential -> its PASSKEY_ENROLL event (plus ``revoked``: the PASSKEY_REVOKE event or
    None), replayed from the project trail: the record every credential file must match."""
    if events is None:
        events = []
        for line in (project.read_text(project.qms / ".audit" / "project.jsonl") or "").splitlines():
            if (event := parse_line(line)) is not None:  # a damaged line: verify reports it
                events.append(event)
    found: dict[str, dict] = {}
    for event in events:
        name = event.get("event")
        if name == "PASSKEY_ENROLL" and isinstance(event.get("cred"), str):
            found[event["cred"]] = {**event, "revoked": None}
        elif name == "PASSKEY_REVOKE" and event.get("cred") in found:
            found[event["cred"]]["revoked"] = event
    return found


def vouch_message(entry: dict[str, Any]) -> bytes:
    return ("qms-passkey-enroll-v1|" + json.dumps([entry.get(k) for k in BOUND])).encode()


def vouch(project: Project, key_id: str, entry: dict[str, Any]) -> str | None:
    """The project key's signature over a credential's bound fields (None without that
    private key). Ed25519 is deterministic: the server re-makes it to check a file, so a
    credential written by anyone without the private key is never trusted."""
    from qms.store import keys

    signer = keys.signer(project, key_id)
    return signer.sign(vouch_message(entry)) if signer else None


def vouched(project: Project, entry: dict[str, Any]) -> bool:
    mark = entry.get("vouch")
    if not isinstance(mark, dict) or not isinstance(mark.get("sig"), str):
        return False
    expected = vouch(project, str(mark.get("key_id", "")), entry)
    return expected is not None and hmac.compare_digest(expected, mark["sig"])


def check(entry: dict[str, Any], record: dict[str, Any] | None) -> str | None:
    """Why a credential file cannot be trusted (None: it agrees with its enroll event)."""
    if record is None:
        return "has no PASSKEY_ENROLL event in the project trail (added by hand?)"
    changed = [k for k in BOUND if entry.get(k) != record.get(k)]
    if changed:
        return f"differs from its PASSKEY_ENROLL event in {', '.join(changed)} (edited by hand?)"
    if record.get("revoked") and not entry.get("revoked"):
        return "was revoked (PASSKEY_REVOKE) but its file does not say so"
    return None


# -- enrollment codes ----------------------------------------------------------------------
def invite(project: Project, code: str) -> tuple[bytes, dict[str, Any]] | None:
    """The ``PASSKEY_INVITE`` (line, event) recording this code's hash, else None (at face
    value: the caller checks its signature, expiry and use)."""
    from qms.store import vouched

    digest = code_hash(code)
    return next((found for found in reversed(vouched.events(project, "PASSKEY_INVITE"))
                 if hmac.compare_digest(str(found[1].get("code_sha256", "")), digest)), None)


def used(project: Project, invite_id: str) -> bool:
    """Whether a ``PASSKEY_ENROLL`` consumed the invite ``invite_id`` (single use)."""
    from qms.store import vouched

    return any(e.get("invite") == invite_id for _, e in vouched.events(project, "PASSKEY_ENROLL"))
