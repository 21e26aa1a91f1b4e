"""``qms config get [KEY]`` and ``qms config set KEY VALUE`` (set: administrators, audited).

Settings live in ``qms.config.json`` under ``"settings"``. ``auth.cli``: ``required`` makes
every CLI command prove its ``--user`` with a token (``$QMS_TOKEN``, ``$QMS_TOKEN_FILE`` or
``--token-file``); ``off`` (the default) trusts ``--user``.
"""

from __future__ import annotations

import json

from qms.errors import PermissionDenied, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import audit, settings
from qms.store import tokens as token_store
from qms.store.project import CONFIG_FILE, Project


class ConfigResult(Result):
    settings: dict
    message: str


def config_get(project: Project, user: str, *, key: str | None = None) -> ConfigResult:
    authorize(project, user, "config_get")
    keys = [key] if key else list(settings.KNOWN)
    values = {k: settings.get(project, k) for k in keys}
    return ConfigResult(values, "\n".join(f"{k} = {v}" for k, v in values.items()))


def config_set(project: Project, user: str, *, key: str, value: str) -> ConfigResult:
    authorize(project, user, "config_set")
    if not settings.valid(key, value):
        raise ValidationError(f"{key} must be {settings.describe(key)}, not {value!r}.")
    if key == "auth.cli" and value == "required" and not _has_token(project, user):
        raise PermissionDenied(
            f"{user} has no valid token: with auth.cli required every command, this one's undo "
            f"included, needs one. First: qms --user {user} token issue {user}", user=user)
    with project.transaction() as tx:
        path = settings.config_path(project)
        config = settings.load_config(project, tx.read_text(path) or "{}")
        previous = settings.in_force(project, key)
        config.setdefault("settings", {})[key] = value
        tx.write_text(path, json.dumps(config, indent=2, ensure_ascii=False))
        audit.append_project(tx, project, "CONFIG_SET", user, key=key, value=value,
                             previous=previous)
    return ConfigResult({key: value}, f"{key} = {value} (was {previous}; {CONFIG_FILE})")


def _has_token(project: Project, user: str) -> bool:
    return any(t.get("user") == user and token_store.state(t) == "active"
               for t in token_store.load(project))
