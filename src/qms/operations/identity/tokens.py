"""``qms token issue|list|revoke`` (administrators; CLI only, never an MCP tool).

A token proves who its holder is: the MCP server (``--auth``) and the CLI (``auth.cli``)
accept it as that user. Issue and revoke are audited in the project audit log, never with
the secret, which is shown once and stored only as a hash.
"""

from __future__ import annotations

from qms.errors import NotFound, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import audit
from qms.store import tokens as store
from qms.store import users as users_store
from qms.store.project import Project

MAX_LABEL = 200
MAX_DAYS = 3650


class TokenIssued(Result):
    token: str
    token_id: str
    user: str
    label: str
    created: str
    expires: str | None

    def render(self) -> str:
        """Only the secret (so `qms token issue qa > qa.token` makes a secret file)."""
        return self.token

    @property
    def warnings(self) -> list[str]:
        """The note the CLI prints on stderr."""
        until = f", expires {self.expires}" if self.expires else ""
        return [f"Token {self.token_id} for {self.user}{until}. This is the only time it is "
                "shown: store it now (e.g. as a Docker secret file). Revoke with: "
                f"qms --user <admin> token revoke {self.token_id}"]


class TokenList(Result):
    tokens: list[dict]

    def render(self) -> str:
        if not self.tokens:
            return "No tokens."
        rows = [f"{'ID':<9} {'USER':<12} {'STATUS':<8} {'CREATED':<26} {'EXPIRES':<26} LABEL"]
        rows += [f"{t['token_id']:<9} {t['user']:<12} {t['status']:<8} {t['created']:<26} "
                 f"{t['expires'] or '-':<26} {t['label']}" for t in self.tokens]
        return "\n".join(rows)


class TokenRevoked(Result):
    token_id: str
    user: str
    revoked: str
    message: str


def token_issue(project: Project, user: str, *, name: str, label: str | None = None,
                expires_days: int | None = None) -> TokenIssued:
    authorize(project, user, "token_issue")
    users_store.group_of(project, name)  # the token's user must exist
    label = _label(label)
    if expires_days is not None and (isinstance(expires_days, bool) or
                                     not isinstance(expires_days, int) or
                                     not 1 <= expires_days <= MAX_DAYS):
        raise ValidationError(f"--expires-days must be a whole number from 1 to {MAX_DAYS}.")
    created = audit.now_ts()
    expires = _plus_days(created, expires_days) if expires_days else None
    with project.transaction() as tx:
        entries = store.load(project)
        token_id, secret = store.new_secret()
        while any(t.get("id") == token_id for t in entries):
            token_id, secret = store.new_secret()
        entries.append({"id": token_id, "user": name, "label": label, "hash": store.digest(secret),
                        "created": created, "created_by": user, "expires": expires,
                        "revoked": None})
        audit.append_project(tx, project, "TOKEN_ISSUE", user, token_id=token_id, for_user=name,
                             label=label, expires=expires, token_sha256=store.digest(secret))
        store.save(project, entries)  # under the lock; the audit line commits right after
    return TokenIssued(secret, token_id, name, label, created, expires)


def token_list(project: Project, user: str) -> TokenList:
    authorize(project, user, "token_list")
    return TokenList([_public(t, store.vouch(project, t)) for t in store.load(project)])


def token_revoke(project: Project, user: str, *, token_id: str) -> TokenRevoked:
    authorize(project, user, "token_revoke")
    with project.transaction() as tx:
        entries = store.load(project)
        entry = next((t for t in entries if t.get("id") == token_id), None)
        if entry is None:
            raise NotFound(f"No token {token_id!r} (see: qms token list).", token_id=token_id)
        if entry.get("revoked"):
            return TokenRevoked(token_id, entry["user"], entry["revoked"],
                                f"Token {token_id} ({entry['user']}) was already revoked "
                                f"at {entry['revoked']}.")
        entry["revoked"], entry["revoked_by"] = audit.now_ts(), user
        audit.append_project(tx, project, "TOKEN_REVOKE", user, token_id=token_id,
                             for_user=entry["user"])
        store.save(project, entries)
    return TokenRevoked(token_id, entry["user"], entry["revoked"],
                        f"Revoked token {token_id} ({entry['user']}); it is refused from the "
                        "next call on.")


def _label(label: str | None) -> str:
    label = (label or "").strip()
    if len(label) > MAX_LABEL or any(ord(c) < 32 for c in label):
        raise ValidationError(f"--label must be one line of at most {MAX_LABEL} characters.")
    return label


def _plus_days(ts: str, days: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(ts) + timedelta(days=days)).isoformat()


def _public(entry: dict, vouched: str) -> dict:
    """The listing of an entry; ``status`` ``unvouched`` (or ``legacy``: issued before
    TOKEN_ISSUE recorded the hash) when the signed trail does not vouch for it."""
    status = store.state(entry)
    if status == "active" and vouched != "ok":
        status = "legacy" if vouched == "legacy" else "unvouched"
    return {"token_id": entry.get("id"), "user": entry.get("user"), "label": entry.get("label", ""),
            "created": entry.get("created"), "expires": entry.get("expires"),
            "revoked": entry.get("revoked"), "status": status}
