"""The permission matrix (pure), exactly as documented; anything not listed is denied.

Groups do not inherit from one another: an administrator may author, but may not assign,
approve or reject, because the matrix does not list administrators there.
"""

from __future__ import annotations

from qms.errors import PermissionDenied

ADMINISTRATOR, INITIATOR, QUALITY, REVIEWER = "administrator", "initiator", "quality", "reviewer"
GROUPS = (ADMINISTRATOR, INITIATOR, QUALITY, REVIEWER)
BUILTIN_ADMINS = ("lead", "claude")

_AUTHORS = frozenset({ADMINISTRATOR, INITIATOR})
_EVERYONE = frozenset(GROUPS)
_ADMIN = frozenset({ADMINISTRATOR})

# command -> groups allowed. Ownership and assignment are checked by the operations.
MATRIX: dict[str, frozenset[str]] = {
    **{c: _AUTHORS for c in (
        "create", "checkout", "checkin", "route", "release", "revert", "close",
        "withdraw", "cancel", "interact", "qualify", "code_checkout", "code_push", "merge")},
    "assign": frozenset({QUALITY}),
    "review": _EVERYONE,
    "approve": frozenset({QUALITY, REVIEWER}),
    "reject": frozenset({QUALITY, REVIEWER}),
    **{c: _EVERYONE for c in (
        "read", "status", "history", "comments", "inbox", "workspace", "namespace_list",
        "verify", "key_list", "export", "system_list", "code_status", "code_remove")},
    **{c: _ADMIN for c in ("fix", "unlock", "user_add", "user_group", "user_remove",
                           "user_name", "user_list", "namespace_add", "key_rotate",
                           "key_import", "system_add", "code_install_hook")},
    # credentials and project settings: CLI only, never MCP tools
    **{c: _ADMIN for c in ("token_issue", "token_list", "token_revoke", "config_set",
                           "passkey_enroll", "passkey_revoke")},
    "config_get": _EVERYONE, "passkey_list": _EVERYONE,
}

# commands that run while an agent file disagrees with the signed user registry: verify
# names it, and an administrator's user commands report or repair it (every other command
# is refused until then)
REPAIRS = frozenset({"verify", "user_add", "user_group", "user_remove", "user_name",
                     "user_list"})

# who may be assigned to which kind of task
ASSIGNABLE = {"REVIEW": _EVERYONE, "APPROVAL": frozenset({QUALITY, REVIEWER})}


def check(command: str, user: str, group: str) -> None:
    allowed = MATRIX.get(command)
    if allowed is None:
        raise PermissionDenied(f"Unknown command {command!r}: denied.")
    if group not in allowed:
        names = ", ".join(g for g in GROUPS if g in allowed)
        raise PermissionDenied(
            f"Permission denied: '{command}' requires group {names}; "
            f"{user} is in group {group}.", command=command, group=group)


def check_owner(command: str, user: str, owner: str | None, doc_id: str) -> None:
    if owner != user:
        who = owner or "nobody"
        raise PermissionDenied(
            f"Permission denied: only the responsible user ({who}) can {command} {doc_id}.",
            command=command, owner=owner)


def check_assigned(command: str, user: str, pending: list[str], doc_id: str) -> None:
    if user not in pending:
        raise PermissionDenied(
            f"Permission denied: {user} is not assigned to {doc_id}. "
            f"Ask QA to assign you: qms --user qa assign {doc_id} --assignees {user}",
            command=command)


SOD_RULE = "separation of duties (SOP-007 4.1)"

# the end of an approval cycle: from here on, a new text is being written
_CYCLE_ENDS = frozenset({"APPROVED", "PRE_APPROVED", "POST_APPROVED"})


def signed_authors(events: list[dict], content_sha256: str | None) -> dict[str, str]:
    """Who signed authorship (a CHECKIN) of the text under review: user -> the signature.

    An author is whoever checked in this very text (its SHA-256), at any time, or checked in
    any version of the current cycle, i.e. since the document last took effect or was
    (pre-/post-)approved: the text under review is built on every one of them."""
    found: dict[str, str] = {}
    cycle: dict[str, str] = {}
    for e in events:
        kind = e.get("event")
        if kind == "EFFECTIVE" or (kind == "STATUS_CHANGE" and e.get("to_status") in _CYCLE_ENDS):
            cycle = {}
        elif kind == "CHECKIN" and isinstance(e.get("user"), str):
            where = f"CHECKIN v{e.get('version')} at {e.get('ts')}"
            cycle[e["user"]] = where
            if content_sha256 and e.get("content_sha256") == content_sha256:
                found[e["user"]] = where
    return {**cycle, **found}


def check_not_author(action: str, user: str, owner: str | None, doc_id: str,
                     hint: str = "", authors: dict[str, str] | None = None) -> None:
    """Separation of duties: neither the author (responsible user) nor anyone who signed
    authorship of the text (``authors``, from :func:`signed_authors`) reviews or approves
    it, or is assigned to. ``action`` completes "cannot ... it"."""
    if owner is not None and user == owner:
        raise PermissionDenied(
            f"Permission denied by {SOD_RULE}: {user} is the author (responsible user) of "
            f"{doc_id} and cannot {action} it.{hint}", rule="separation_of_duties", user=user)
    if authors and user in authors:
        raise PermissionDenied(
            f"Permission denied by {SOD_RULE}: {user} signed authorship of the text of "
            f"{doc_id} under review ({authors[user]}) and cannot {action} it.{hint}",
            rule="separation_of_duties", user=user, signature=authors[user])
