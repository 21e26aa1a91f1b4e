"""``qms user --add NAME --group G`` and ``qms user --list`` (administrator)."""

from __future__ import annotations

from qms.domain.permissions import BUILTIN_ADMINS, GROUPS
from qms.errors import Conflict, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import audit
from qms.store import users as users_store
from qms.store.project import Project


class UserResult(Result):
    name: str
    group: str
    message: str

    def render(self) -> str:
        return self.message


class UserListResult(Result):
    users: list[dict]

    def render(self) -> str:
        return "\n".join(f"{u['name']:<20} {u['group']}" for u in self.users)


def user_add(project: Project, user: str, *, name: str, group: str) -> UserResult:
    authorize(project, user, "user_add")
    name = users_store.validate_name(name)
    if group not in GROUPS:
        raise ValidationError(f"Invalid group {group!r}; choose one of {', '.join(GROUPS)}.")
    if name in BUILTIN_ADMINS:
        raise Conflict(f"'{name}' is a built-in administrator.")
    with project.transaction() as tx:
        path = project.agent_path(name)
        if tx.exists(path):
            raise Conflict(f"User '{name}' already exists ({project.rel(path)}).")
        tx.write_text(path, users_store.agent_file(name, group))
        for sub in ("workspace", "inbox"):
            tx.write_text(project.user_dir(name) / sub / ".keep", "")
        audit.append_project(tx, project, "USER_ADD", user, name=name, group=group)
    return UserResult(name, group, f"Added user {name} (group {group}).")


def user_list(project: Project, user: str) -> UserListResult:
    authorize(project, user, "user_list")
    return UserListResult([{"name": n, "group": g} for n, g in users_store.list_users(project)])
