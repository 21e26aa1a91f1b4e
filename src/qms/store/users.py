"""Users: the built-in administrators plus one agent file per user with a ``group:``."""

from __future__ import annotations

import re

from qms.domain.permissions import BUILTIN_ADMINS, GROUPS, ADMINISTRATOR
from qms.errors import NotFound, QMSError, ValidationError
from qms.store import frontmatter
from qms.store.project import Project

USER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")  # \Z: no trailing newline


def validate_name(user: str) -> str:
    if not isinstance(user, str) or not user.strip():
        raise ValidationError(
            "A user is required: pass --user NAME (e.g. --user claude).")
    if not USER_RE.match(user):
        raise ValidationError(
            f"Invalid user name {user[:40]!r}: use lowercase letters, digits, '_' or '-'.")
    return user


def group_of(project: Project, user: str) -> str:
    """The user's group; unknown users and bad groups are clear errors."""
    validate_name(user)
    if user in BUILTIN_ADMINS:
        return ADMINISTRATOR
    text = project.read_text(project.agent_path(user))
    if text is None:
        raise NotFound(
            f"Unknown user '{user}'. An administrator can add one with "
            f"'qms --user lead user --add {user} --group reviewer', or create "
            f".claude/agents/{user}.md with a 'group:' in its frontmatter.", user=user)
    try:
        group = frontmatter.field(text, "group")
    except ValidationError as exc:
        raise ValidationError(f"Agent file for '{user}' is malformed: {exc}") from None
    if group not in GROUPS:
        raise ValidationError(
            f"Agent file for '{user}' has group {group!r}; expected one of "
            f"{', '.join(GROUPS)}.", user=user)
    return group


def list_users(project: Project) -> list[tuple[str, str]]:
    users = [(u, ADMINISTRATOR) for u in BUILTIN_ADMINS]
    if project.agents_dir.is_dir():
        for path in sorted(project.agents_dir.glob("*.md")):
            name = path.stem
            if name in BUILTIN_ADMINS or not USER_RE.match(name):
                continue
            try:
                fm = frontmatter.split(project.read_text(path) or "")[0]
            except QMSError:  # damaged, a link, a FIFO: not a user
                continue
            group = fm.get("group") if isinstance(fm, dict) else None
            if group:
                users.append((name, str(group)))
    return users


def user_dir_names(project: Project) -> list[str]:
    """Users that have a folder under .claude/users (for inbox/workspace sweeps)."""
    if not project.users_dir.is_dir():
        return []
    return sorted(p.name for p in project.users_dir.iterdir()
                  if p.is_dir() and USER_RE.match(p.name))


def agent_file(name: str, group: str) -> str:
    fm = frontmatter.dump({"name": name, "group": group, "description": "QMS user"})
    return fm + f"\n# {name}\n\nQMS user in group {group}. Work through the qms CLI or MCP tools.\n"


def display_name(project: Project, user: str) -> str:
    """The name a signature shows: ``display_name:`` in the user's agent file, else the ID."""
    text = project.read_text(project.agent_path(user)) if USER_RE.match(user or "") else None
    if text:
        try:
            name = frontmatter.field(text, "display_name")
        except ValidationError:
            name = None
        if name and str(name).strip():
            return str(name).strip()
    return user
