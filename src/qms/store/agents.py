"""The agent files ``.claude/agents/{user}.md``: each user's prompt, whose ``group:`` and
``display_name:`` lines are a cache of the signed user registry (:mod:`qms.store.users`).

qms writes those two lines whenever the registry changes; :func:`problems` names every file
that disagrees with the registry: a line edited by hand, a user file added by hand (a
``group:`` naming a group, for a user the registry does not have), a user's file deleted
or replaced by a link. The rest of a file (the prompt) is the team's, never compared.
Files whose name is not a user name, and files without a ``group:`` for someone the
registry does not know (a Claude Code agent that is no QMS user), are not user files.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

from qms.domain.permissions import BUILTIN_ADMINS, GROUPS
from qms.errors import QMSError, ValidationError
from qms.store import atomic, frontmatter
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Iterator

USER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")  # \Z: no trailing newline
MALFORMED = "(malformed frontmatter)"
_KEYS = {key: re.compile(rf"^{key}[ \t]*:", re.M) for key in ("group", "display_name")}
_CACHE: dict[str, tuple[Any, list[tuple[str, str, str]]]] = {}  # agents folder -> (key, problems)


def declared(text: str, key: str) -> str | None:
    """The value of ``key:`` in an agent file's frontmatter (None: absent or empty;
    :data:`MALFORMED` when the frontmatter cannot be read). A file without the key costs
    no YAML parser."""
    end = text.find("\n---", 3) if text.startswith("---") else -1
    if end < 0 or _KEYS[key].search(text, 0, end + 1) is None:
        return None
    try:
        value = frontmatter.field(text, key)
    except ValidationError:
        return MALFORMED
    if isinstance(value, (dict, list)):
        return MALFORMED
    if value is None:
        return None
    return str(value).strip() or None


def files(project: Project) -> tuple[tuple[str, int, int, int, int], ...]:
    """(user name, inode, size, mtime, mode) of each ``{name}.md``, in directory order (one
    scandir, one ``lstat`` each: links are never followed). What a cache of the check is
    keyed by: an edit, even in place, changes the size or the mtime."""
    try:
        entries = os.scandir(project.agents_dir)
    except (FileNotFoundError, NotADirectoryError):
        return ()
    found = []
    with entries:
        for entry in entries:
            name = entry.name
            if name.endswith(".md") and USER_RE.match(name[:-3]):
                st = entry.stat(follow_symlinks=False)
                found.append((name[:-3], st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode))
    return tuple(found)


def read(project: Project, name: str, folders: atomic.Folders | None = None) -> str | None:
    """An agent file's text (None: absent); a link or special file raises QMSError.
    ``folders``: the project's folders, kept open for several files (:func:`reading`)."""
    path = project.agents_dir / f"{name}.md"
    if folders is None:
        return atomic.read_text(path, project.root)
    return atomic.decode(folders.read(str(path)), project.root, path)


@contextmanager
def reading(project: Project) -> Iterator[atomic.Folders]:
    """``with reading(project) as folders:`` the agents folder opened once for many files."""
    folders = atomic.Folders(project.root)
    try:
        yield folders
    finally:
        folders.close()


def from_files(project: Project) -> tuple[dict[str, str], dict[str, str]]:
    """What the agent files say: (user -> group, user -> display name). What the earlier
    tool decided by, and what an existing project adopts once (USER_ADOPT)."""
    groups: dict[str, str] = {}
    names: dict[str, str] = {}
    with reading(project) as folders:
        texts = {}
        for name in sorted(f[0] for f in files(project)):
            try:
                texts[name] = read(project, name, folders) or ""
            except QMSError:  # a link, a FIFO: not a user
                pass
    for name, text in texts.items():
        group = declared(text, "group")
        if name not in BUILTIN_ADMINS and group in GROUPS:
            groups[name] = group
        shown = declared(text, "display_name")
        if shown and shown != MALFORMED and (name in groups or name in BUILTIN_ADMINS):
            names[name] = shown
    return groups, names


def problems(project: Project, groups: dict[str, str], names: dict[str, str],
             seq: int) -> list[tuple[str, str, str]]:
    """(file, what is wrong, what to do) for every agent file that disagrees with the
    registry (``groups``, ``names``, left by the event ``seq``); cached per state of the
    folder."""
    listing = files(project)
    key = (seq, listing)
    cached = _CACHE.get(str(project.agents_dir))
    if cached is not None and cached[0] == key:
        return cached[1]
    present = {f[0] for f in listing}
    found = []
    with reading(project) as folders:
        for name in sorted(present | set(groups) | set(names)):
            problem = _problem(project, name, name in present, groups.get(name),
                               names.get(name), folders)
            if problem:
                found.append((f".claude/agents/{name}.md", *problem))
    _CACHE[str(project.agents_dir)] = (key, found)
    return found


def _problem(project: Project, name: str, present: bool, group: str | None,
             shown: str | None, folders: atomic.Folders) -> tuple[str, str] | None:
    user = group is not None
    rel = f".claude/agents/{name}.md"
    restore = f"restore it (git checkout -- {rel}) or ask an administrator"
    gone = (f"{rel} is gone, but the signed user registry has user {name} (group {group})",
            f"{restore} (qms user --group {name} {group}, or --remove {name})")
    if not present:
        return gone if user else None
    try:
        text = read(project, name, folders)
    except QMSError as err:
        return (f"{rel} cannot be read ({err.message})", restore) if user or shown else None
    if text is None:
        return gone if user else None
    said = declared(text, "group")
    if name not in BUILTIN_ADMINS:
        if not user:
            return (f"{rel} declares user {name} (group {said}), whom the signed user "
                    "registry does not have (no USER_ADD)",
                    f"delete it, or ask an administrator to add {name} (qms user --add "
                    f"{name} --group GROUP)") if said in GROUPS else None
        if said != group:
            return (f"{rel} says group {said}, but the signed user registry says {group}",
                    f"{restore} (qms user --group {name} GROUP)")
    named = declared(text, "display_name")
    if named != shown and (user or name in BUILTIN_ADMINS):
        return (f"{rel} says display_name {named!r}, but the signed user registry says "
                f"{shown!r}", f"{restore} (qms user --display-name {name} TEXT)")
    return None


# -- writing the cache (the caller stages the text in its transaction) ----------------------
def with_fields(text: str | None, name: str, group: str | None, shown: str | None) -> str:
    """``text`` (an agent file, or None for a new one) with its ``group:`` (unless None:
    a built-in administrator's file keeps its own) and ``display_name:`` lines set to the
    registry's; the prompt is kept as it is."""
    if text is None:
        text = (f"---\nname: {name}\ndescription: QMS user\n---\n\n# {name}\n\n"
                "QMS user. Work through the qms CLI or MCP tools.\n")
    if not text.startswith("---\n") or text.find("\n---", 3) < 0:
        text = f"---\nname: {name}\n---\n\n" + text
    end = text.find("\n---", 3) + 1
    block = text[4:end]
    replaced = "group|display_name" if group is not None else "display_name"
    lines, dropping = [], False
    for line in block.splitlines():
        if re.match(rf"({replaced})[ \t]*:", line):
            dropping = True  # with its continuation lines, if any
        elif not (dropping and line[:1] in (" ", "\t")):
            dropping = False
            lines.append(line)
    if group is not None:
        lines.append(f"group: {group}")
    if shown:
        lines.append("display_name: '" + shown.replace("'", "''") + "'")
    return "---\n" + "\n".join(lines) + "\n" + text[end:]
