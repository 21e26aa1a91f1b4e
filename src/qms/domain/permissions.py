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
        "withdraw", "cancel", "interact", "qualify")},
    "assign": frozenset({QUALITY}),
    "review": _EVERYONE,
    "approve": frozenset({QUALITY, REVIEWER}),
    "reject": frozenset({QUALITY, REVIEWER}),
    **{c: _EVERYONE for c in (
        "read", "status", "history", "comments", "inbox", "workspace", "namespace_list",
        "verify", "key_list", "export")},
    **{c: _ADMIN for c in ("fix", "unlock", "user_add", "user_list", "namespace_add",
                           "key_rotate")},
    # credentials and project settings: CLI only, never MCP tools
    **{c: _ADMIN for c in ("token_issue", "token_list", "token_revoke", "config_set")},
    "config_get": _EVERYONE,
}

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


def check_not_author(action: str, user: str, owner: str | None, doc_id: str,
                     hint: str = "") -> None:
    """Separation of duties: the author (responsible user) neither reviews nor approves
    their own document, nor is assigned to. ``action`` completes "cannot ... it"."""
    if owner is not None and user == owner:
        raise PermissionDenied(
            f"Permission denied by {SOD_RULE}: {user} is the author (responsible user) of "
            f"{doc_id} and cannot {action} it.{hint}", rule="separation_of_duties", user=user)
