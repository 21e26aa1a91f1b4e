"""The user part of ``qms verify``: the signed user registry and its cache, the agent files.

Every agent file must say what the registry's last event says (a ``group:`` or
``display_name:`` edited by hand, a user file added by hand, a user's file deleted: finding
``user``, one per file); a last user event the chain does not hold is a finding too. A note
says when the registry was adopted from the agent files (what they said before was never
signed), or that the project has no registry yet.
"""

from __future__ import annotations

from qms.errors import QMSError
from qms.operations.verify.check import PROJECT
from qms.store import agents, users

TYPE_CHECKING = False
if TYPE_CHECKING:
    from qms.operations.verify.check import Check


def check(check: Check) -> None:
    """Add the registry's findings and notes."""
    try:
        current = users.registry(check.project)
    except QMSError as err:
        check.find(PROJECT, "user", err.message, users.TRAIL)
        return
    if current is None:
        check.notes.append("no signed user registry yet: groups come from the agent files "
                           "(.claude/agents/) until the project's next change adopts them")
        return
    for e in check.project_events():
        if e.get("event") == "USER_ADOPT" and e.get("source") == "agent files":
            check.notes.append(
                f"users adopted from the agent files at seq {e.get('seq')} by {e.get('user')} "
                f"({len(e.get('users') or {})} user(s)): who was in which group before then "
                "was never signed")
        elif e.get("event") == "USER_ADOPT" and e.get("source") != "qms init":
            check.notes.append(f"the user registry was recorded again at seq {e.get('seq')} "
                               f"by {e.get('user')}: {e.get('source')}")
    for rel, problem, _ in agents.problems(check.project, current.groups, current.names,
                                           current.seq):
        check.find(PROJECT, "user", f"{problem}: changed outside qms", rel)
