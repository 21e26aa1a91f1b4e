"""``qms user --add | --group | --remove | --display-name | --list`` (administrator).

Each change is one signed project event that records the whole registry it leaves
(``USER_ADD``, ``USER_GROUP``, ``USER_REMOVE``, ``USER_NAME``: :mod:`qms.store.users`), and
rewrites the user's agent file's ``group:``/``display_name:`` lines, the registry's cache,
in the same transaction. These commands run while an agent file disagrees with the
registry, so an administrator can repair it (the user's file is rewritten from the
registry); ``--list`` flags every such file.
"""

from __future__ import annotations

import unicodedata

from qms.domain.permissions import BUILTIN_ADMINS, GROUPS
from qms.errors import Conflict, NotFound, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import agents, audit, inbox
from qms.store import users as users_store
from qms.store.project import Project

MAX_DISPLAY = 100


class UserResult(Result):
    name: str
    group: str
    message: str


class UserListResult(Result):
    users: list[dict]
    problems: list[dict]

    def render(self) -> str:
        rows = [f"{u['name']:<20} {u['group']:<14} {u.get('display_name') or ''}".rstrip()
                for u in self.users]
        return "\n".join(rows + [f"!! {p['file']}: {p['problem']}" for p in self.problems])


def user_add(project: Project, user: str, *, name: str, group: str,
             display_name: str | None = None) -> UserResult:
    """Add a user. An agent file already there (written by hand) keeps its prompt; its
    ``group:`` line becomes the registry's."""
    authorize(project, user, "user_add")
    name, group = _name(name), _group(group)
    shown = _display(display_name) if display_name is not None else None
    with project.transaction() as tx:
        current = _begin(tx, project, user)
        if name in current.groups:
            raise Conflict(f"User '{name}' already exists (group {current.groups[name]}).")
        groups, names = {**current.groups, name: group}, dict(current.names)
        if shown:
            names[name] = shown
        else:
            names.pop(name, None)
        path = project.agent_path(name)
        tx.write_text(path, agents.with_fields(tx.read_text(path), name, group, shown))
        for sub in ("workspace", "inbox"):
            tx.write_text(project.user_dir(name) / sub / ".keep", "")
        audit.append_project(tx, project, "USER_ADD", user, name=name, group=group,
                             **users_store.change(tx, groups, names))
    return UserResult(name, group, f"Added user {name} (group {group}).")


def user_group(project: Project, user: str, *, name: str, group: str) -> UserResult:
    """Move a user to another group; in the same group, rewrite an agent file that no
    longer says so (both recorded as ``USER_GROUP``)."""
    authorize(project, user, "user_group")
    name, group = _name(name), _group(group)
    with project.transaction() as tx:
        current = _begin(tx, project, user)
        before = _existing(current, name)
        path = project.agent_path(name)
        text = tx.read_text(path)
        wanted = agents.with_fields(text, name, group, current.names.get(name))
        if before == group and text == wanted:
            return UserResult(name, group, f"{name} is already in group {group}.")
        tx.write_text(path, wanted)
        audit.append_project(tx, project, "USER_GROUP", user, name=name, group=group,
                             from_group=before,
                             **users_store.change(tx, {**current.groups, name: group},
                                                  current.names))
    if before == group:
        return UserResult(name, group, f"{name} stays in group {group}; rewrote "
                                       f"{project.rel(path)} to say so.")
    return UserResult(name, group, f"Moved {name} from group {before} to {group}.")


def user_remove(project: Project, user: str, *, name: str) -> UserResult:
    """Remove a user: they can no longer act or sign; their agent file goes (git keeps it),
    their workspace and inbox stay, their signatures stay in the trail. Refused while tasks
    wait for them (a document would wait for someone who can never act)."""
    authorize(project, user, "user_remove")
    name = _name(name)
    with project.transaction() as tx:
        current = _begin(tx, project, user)
        before = _existing(current, name)
        waiting = [p.name for p in inbox.list_tasks(project, name, strict=False)]
        if waiting:
            raise Conflict(f"{name} still has {len(waiting)} task(s) waiting ("
                           f"{', '.join(waiting[:3])}): have their documents withdrawn or "
                           "routed to someone else first.", user=name)
        groups = {u: g for u, g in current.groups.items() if u != name}
        names = {u: n for u, n in current.names.items() if u != name}
        if tx.exists(project.agent_path(name)):
            tx.delete(project.agent_path(name))
        audit.append_project(tx, project, "USER_REMOVE", user, name=name, group=before,
                             **users_store.change(tx, groups, names))
    return UserResult(name, before, f"Removed user {name} (was in group {before}); "
                                    f"deleted .claude/agents/{name}.md.")


def user_name(project: Project, user: str, *, name: str, display_name: str) -> UserResult:
    """Set the printed name a user's signatures show (empty: the user ID)."""
    authorize(project, user, "user_name")
    name = users_store.validate_name(name)
    shown = _display(display_name)
    with project.transaction() as tx:
        current = _begin(tx, project, user)
        if name in BUILTIN_ADMINS:
            group = None
        else:
            group = _existing(current, name)
        names = {u: n for u, n in current.names.items() if u != name}
        if shown:
            names[name] = shown
        path = project.agent_path(name)
        if group is not None or tx.exists(path):
            tx.write_text(path, agents.with_fields(tx.read_text(path), name, group, shown))
        audit.append_project(tx, project, "USER_NAME", user, name=name, display_name=shown,
                             **users_store.change(tx, current.groups, names))
    said = f"'{shown}'" if shown else "its user ID"
    return UserResult(name, group or "administrator",
                      f"{name}'s signatures now show the name {said}.")


def user_list(project: Project, user: str) -> UserListResult:
    authorize(project, user, "user_list")
    current = users_store.registry(project)
    problems = [] if current is None else [
        {"file": f, "problem": p}
        for f, p, _ in agents.problems(project, current.groups, current.names, current.seq)]
    rows = []
    for n, g in users_store.list_users(project):
        shown = users_store.display_name(project, n)
        rows.append({"name": n, "group": g, "display_name": shown if shown != n else None})
    return UserListResult(rows, problems)


# -- helpers -------------------------------------------------------------------------------
def _begin(tx, project: Project, user: str) -> users_store.Registry:
    """The registry under the lock (a project without one adopts its agent files first)."""
    audit.begin(tx, project, user)
    return users_store.in_tx(tx)


def _name(name: str) -> str:
    name = users_store.validate_name(name)
    if name in BUILTIN_ADMINS:
        raise Conflict(f"'{name}' is a built-in administrator: its group never changes.")
    return name


def _group(group: str) -> str:
    if group not in GROUPS:
        raise ValidationError(f"Invalid group {group!r}; choose one of {', '.join(GROUPS)}.")
    return group


def _existing(current: users_store.Registry, name: str) -> str:
    group = current.groups.get(name)
    if group is None:
        raise NotFound(f"Unknown user '{name}' (see: qms user --list).", user=name)
    return group


def _display(text: str) -> str:
    if not isinstance(text, str) or len(text) > MAX_DISPLAY or any(
            unicodedata.category(c).startswith("C") for c in text):
        raise ValidationError(f"A display name is one line of at most {MAX_DISPLAY} "
                              "printable characters.")
    return text.strip()
