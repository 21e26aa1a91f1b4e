"""CLI authentication: with ``auth.cli = required`` every command proves its ``--user``.

The token comes from ``--token-file``, else ``$QMS_TOKEN_FILE``, else ``$QMS_TOKEN``. When
the project does not require it, only an explicit ``--token-file`` is checked, and nothing
beyond ``qms.config.json`` is read (CLI start-up stays cheap).
"""

from __future__ import annotations

from qms.errors import PermissionDenied, ProjectError
from qms.store import settings
from qms.store.project import Project


def check(project: Project, user: str, token_file: str | None,
          env: dict[str, str] | None = None) -> None:
    """Raise PermissionDenied unless the caller may act as ``user``. A setting the signed
    trail does not vouch for (the file edited outside qms) leaves authentication required:
    the fail-safe value, so that ``qms verify`` can still be run, with a token."""
    why = ""
    try:
        required = settings.get(project, "auth.cli") == "required"
    except ProjectError as err:
        required, why = True, err.message + " Meanwhile CLI authentication is required. "
    if not required and not token_file:
        return
    from qms.store import tokens

    secret = tokens.secret_from_env(token_file, env)  # env: a git hook's pusher's
    if secret is None:
        raise PermissionDenied(
            f"{why}This project requires CLI authentication (auth.cli = required): set "
            f"$QMS_TOKEN or $QMS_TOKEN_FILE, or pass --token-file, with a token issued to {user}. "
            "Nothing was changed.", user=user)
    owner = tokens.authenticate(project, secret)
    if owner is None:
        raise PermissionDenied(
            "The token is not valid (unknown, revoked, expired, or not vouched for by a signed "
            "TOKEN_ISSUE: see qms token list, qms verify). Ask an administrator for a "
            "new one (qms token issue). Nothing was changed.", user=user)
    if owner != user:
        raise PermissionDenied(
            f"Identity mismatch: the token belongs to '{owner}', but --user {user} was given. "
            f"Pass --user {owner}. Acting as another identity is impersonation and a violation "
            "of the QMS. Nothing was changed.", identity=owner, requested=user)
