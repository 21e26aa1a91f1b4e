"""`qms verify`: the caches of the signed trail (docs/integrity.md, "State, tokens and
settings are caches of the trail").

* meta: the file's hash must equal the ``state_sha256`` of the document's last event; when
  it does not, the fields that differ from the replayed trail are named one by one;
* tokens (``.qms/tokens.json``): every entry must be vouched for by a signed TOKEN_ISSUE
  (same id, user, hash and expiry) and revoked exactly when a signed TOKEN_REVOKE says so;
* settings (``qms.config.json``): each known setting must be what the last signed
  CONFIG_SET left (the default when there is none).
"""

from __future__ import annotations

from qms.domain import integrity
from qms.store import meta as meta_store

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from qms.operations.verify.check import Check
    from typing import Any

PROJECT = integrity.PROJECT_TRAIL
_ROUND = ("pending_assignees", "review_outcomes", "effective_version", "execution_phase")


def check_meta(check: Check, doc_id: str, where: str, meta: dict, events: list[dict],
               reported: int, text: bytes) -> None:
    """Compare the meta file (``text``, parsed: ``meta``) with the state its last event
    recorded (``reported``: the number of findings before the replay of status, version,
    checkout and owner)."""
    last = events[-1] if events else {}
    if "state_sha256" not in last:
        return  # written before events recorded the state (compared field by field above)
    recorded = last["state_sha256"]
    if recorded == integrity.sha256_bytes(text) or recorded == meta_store.state_sha256(meta):
        return  # the first: the file as qms wrote it (no re-serialising on the common path)
    named = {f.get("field") for f in check.findings[reported:] if f["doc_id"] == doc_id}
    state = integrity.replay_round(events)
    for key in _ROUND:
        if key in state and key not in named and _norm(meta.get(key)) != _norm(state[key]):
            check.find(doc_id, "meta", f"{key} is {meta.get(key)!r} but the audit trail says "
                       f"{state[key]!r} (edited outside qms)", where, field=key)
            named.add(key)
    if not named:
        check.find(doc_id, "meta", "the metadata is not the state its last signed event "
                   f"({last.get('event')}, seq {last.get('seq')}) recorded: edited outside "
                   "qms", where)


def _norm(value: Any) -> Any:
    return value or None  # [] / {} / "" / None: nothing


def check_project(check: Check) -> None:
    """The token store and the settings against the signed project trail."""
    from qms.errors import QMSError
    from qms.store import settings
    from qms.store import tokens as token_store

    project = check.project
    where = ".qms/tokens.json"
    try:
        entries = token_store.load(project)
    except QMSError as err:
        entries = []
        check.find(PROJECT, "token", err.message, where)
    legacy = []
    for entry in entries:
        token_id, user = entry.get("id"), entry.get("user")
        why = token_store.vouch(project, entry)
        if why == "legacy":
            legacy.append(str(token_id))
        elif why in ("unissued", "unsigned"):
            check.find(PROJECT, "token", f"token {token_id} ({user}) is not vouched for by a "
                       "signed TOKEN_ISSUE with its id, user, expiry and hash: added or edited "
                       "outside qms", where, token_id=token_id)
        elif why == "revoked" and not entry.get("revoked"):
            check.find(PROJECT, "token", f"token {token_id} ({user}) was revoked "
                       "(TOKEN_REVOKE) but the store shows it active: edited outside qms",
                       where, token_id=token_id)
    if legacy:
        check.notes.append(f"token(s) {', '.join(legacy)} were issued before TOKEN_ISSUE "
                           "recorded the token's hash: they no longer authenticate; re-issue "
                           "them (qms token issue)")
    for key in settings.KNOWN:
        try:
            value, recorded = settings.file_value(project, key), settings.in_force(project, key)
        except QMSError as err:
            check.find(PROJECT, "setting", err.message, settings.CONFIG_FILE, key=key)
            continue
        if value != recorded:
            check.find(PROJECT, "setting", f"setting {key} is {value!r} in "
                       f"{settings.CONFIG_FILE} but the last signed CONFIG_SET says "
                       f"{recorded!r}: edited outside qms", settings.CONFIG_FILE, key=key)
