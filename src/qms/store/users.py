"""Users: the built-in administrators plus the signed user registry (docs/integrity.md,
"Users and groups are signed state").

Every user event of ``QMS/.audit/project.jsonl`` (``USER_ADOPT``, ``USER_ADD``,
``USER_GROUP``, ``USER_REMOVE``, ``USER_NAME``) records the whole registry it leaves:
``users`` (user -> group) and ``display_names`` (user -> the printed name a signature
shows). The registry in force is that of the last one, believed only when the chain holds
it: lock-free readers look its entry up (:func:`qms.store.vouched.in_chain`), and every
transaction checks its signature before it signs anything (:func:`begin`). The agent files'
``group:``/``display_name:`` lines are a cache of it (:mod:`qms.store.agents`): one that
disagrees is refused by every command (except ``verify`` and ``user``, which repair or
report it). A project with no registry yet (written before it existed) decides by the agent
files until its first transaction, which adopts them in one signed ``USER_ADOPT``.

:func:`group_of` is the one place every adapter asks who a user is.
"""

from __future__ import annotations

from qms.domain.permissions import ADMINISTRATOR, BUILTIN_ADMINS, GROUPS
from qms.errors import NotFound, ProjectError, ValidationError
from qms.store import agents
from qms.store.agents import USER_RE
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

EVENTS = ("USER_ADOPT", "USER_ADD", "USER_GROUP", "USER_REMOVE", "USER_NAME")
TRAIL = "QMS/.audit/project.jsonl"


class Registry:
    """Who the users are, as one signed event left it."""

    __slots__ = ("groups", "names", "seq", "event", "line")

    def __init__(self, groups: dict[str, str], names: dict[str, str], seq: int = 0,
                 event: dict | None = None, line: bytes = b"") -> None:
        self.groups, self.names, self.seq = groups, names, seq
        self.event, self.line = event, line

    @classmethod
    def of(cls, line: bytes, event: dict[str, Any]) -> Registry:
        groups, names = event.get("users"), event.get("display_names") or {}
        if not isinstance(groups, dict) or not isinstance(names, dict) \
                or not all(g in GROUPS for g in groups.values()) \
                or not all(isinstance(n, str) for n in names.values()):
            raise ProjectError(f"The user registry recorded by {event.get('event')} (seq "
                               f"{event.get('seq')}, {TRAIL}) is damaged. Run 'qms verify'.")
        return cls(dict(groups), dict(names), event["seq"], event, line)

    def fields(self) -> dict[str, Any]:
        """What a user event records: the whole registry it leaves."""
        return {"users": dict(sorted(self.groups.items())),
                "display_names": dict(sorted(self.names.items()))}


_REGISTRY: dict[str, tuple[Any, Registry | None]] = {}  # trail -> (trail key, registry)


def validate_name(user: str) -> str:
    if not isinstance(user, str) or not user.strip():
        raise ValidationError(
            "A user is required: pass --user NAME (e.g. --user claude).")
    if not USER_RE.match(user):
        raise ValidationError(
            f"Invalid user name {user[:40]!r}: use lowercase letters, digits, '_' or '-'.")
    return user


def registry(project: Project) -> Registry | None:
    """The registry in force (None: the project has none yet), from the last user event
    of the project trail; refused when the chain does not hold that event."""
    from qms.store import vouched

    key = vouched.trail_key(project)
    path = str(project.qms)
    cached = _REGISTRY.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    found = [(line, e) for line, e in vouched.events(project, *EVENTS) if "users" in e]
    current = None
    if found:
        line, event = found[-1]
        if vouched.in_chain(project, line, event) is None:
            raise ProjectError(
                f"The last user event ({event.get('event')}, seq {event.get('seq')}, {TRAIL}) "
                "is not in the signed audit chain: it was written outside qms. Nothing was "
                "changed. Run 'qms verify' to see it, and restore the trail from version "
                "control.")
        current = Registry.of(line, event)
    _REGISTRY[path] = (key, current)
    return current


def group_of(project: Project, user: str, check_files: bool = True) -> str:
    """The user's group, as the signed registry says; unknown users are a clear error. With
    ``check_files``, an agent file that disagrees with the registry refuses the call."""
    validate_name(user)
    current = registry(project)
    if current is None:
        return _file_group(project, user)
    if check_files:
        refuse_edited(project, current)
    if user in BUILTIN_ADMINS:
        return ADMINISTRATOR
    group = current.groups.get(user)
    if group is None:
        raise NotFound(
            f"Unknown user '{user}'. An administrator can add one with "
            f"'qms --user lead user --add {user} --group reviewer'.", user=user)
    return group


def refuse_edited(project: Project, current: Registry) -> None:
    found = agents.problems(project, current.groups, current.names, current.seq)
    if found:
        rel, problem, remedy = found[0]
        raise ProjectError(f"{problem}: it was changed outside qms. Nothing was changed. "
                           f"To go on, {remedy}; 'qms verify' names every such file.",
                           path=rel)


def _file_group(project: Project, user: str) -> str:
    """Before the registry exists: the group the agent file says (as the earlier tool)."""
    if user in BUILTIN_ADMINS:
        return ADMINISTRATOR
    text = agents.read(project, user)
    if text is None:
        raise NotFound(
            f"Unknown user '{user}'. An administrator can add one with "
            f"'qms --user lead user --add {user} --group reviewer'.", user=user)
    group = agents.declared(text, "group")
    if group == agents.MALFORMED:
        raise ValidationError(f"Agent file for '{user}' is malformed.", user=user)
    if group not in GROUPS:
        raise ValidationError(
            f"Agent file for '{user}' has group {group!r}; expected one of "
            f"{', '.join(GROUPS)}.", user=user)
    return group


def list_users(project: Project) -> list[tuple[str, str]]:
    users = [(u, ADMINISTRATOR) for u in BUILTIN_ADMINS]
    current = registry(project)
    groups = current.groups if current is not None else agents.from_files(project)[0]
    return users + sorted(groups.items())


def display_name(project: Project, user: str) -> str:
    """The name a signature shows: the registry's display name, else the ID."""
    if not USER_RE.match(user or ""):
        return user
    current = registry(project)
    names = current.names if current is not None else agents.from_files(project)[1]
    return names.get(user) or user


def user_dir_names(project: Project) -> list[str]:
    """Users that have a folder under .claude/users (for inbox/workspace sweeps)."""
    if not project.users_dir.is_dir():
        return []
    return sorted(p.name for p in project.users_dir.iterdir()
                  if p.is_dir() and USER_RE.match(p.name))


# -- in a transaction (under the project lock) ---------------------------------------------
def begin(tx: Any, project: Project, key_start: str | None = None) -> dict[str, Any] | None:
    """Before a transaction records its first event: the registry it starts from, kept on
    the transaction. Its last event must carry a valid signature of a trusted key (nothing
    is signed over a forged registry). A project without one adopts its agent files: the
    fields of the ``USER_ADOPT`` to record first are returned (else None). ``key_start``
    (a key just started without the previous one): the registry as the chain holds it is
    recorded again, so the new key vouches for it (whoever starts a key that way vouches
    for everything from then on; verify reports the start)."""
    if getattr(tx, "_qms_users", None) is not None:
        return None
    current = registry(project)
    if current is None:
        groups, names = agents.from_files(project)
        return adopt(tx, Registry(groups, names), "agent files")
    if key_start:
        return adopt(tx, current, key_start)
    _check_signed(project, tx, current)
    tx._qms_users = current
    return None


def adopt(tx: Any, current: Registry, source: str) -> dict[str, Any]:
    """The fields of a ``USER_ADOPT`` that starts the registry (``init``: the seed users)."""
    tx._qms_users = current
    return {**current.fields(), "source": source}


def in_tx(tx: Any) -> Registry:
    """The registry as this transaction has it so far (after :func:`begin`)."""
    current = getattr(tx, "_qms_users", None)
    if current is None:
        raise ProjectError("Internal error: the user registry was read before the "
                           "transaction began; nothing was changed.")
    return current


def change(tx: Any, groups: dict[str, str], names: dict[str, str]) -> dict[str, Any]:
    """Stage a new registry on the transaction; returns the fields its event records."""
    tx._qms_users = Registry(groups, names)
    return tx._qms_users.fields()


def _check_signed(project: Project, tx: Any, current: Registry) -> None:
    from qms.store import keys, vouched

    if keys.active_signer(project, tx) is None:
        return  # nothing can be signed here: the chain refuses the change
    if not vouched.signed(project, current.line, current.event or {}):
        raise ProjectError(
            f"The last user event ({(current.event or {}).get('event')}, seq {current.seq}, "
            f"{TRAIL}) does not carry a valid signature of a trusted key of this project: "
            "it was written outside qms. Nothing was changed. Run 'qms verify' to see it, "
            "and restore the trail and chain from version control.")
