"""``qms verify --code`` (and ``qms verify`` when the project has a system): the project's
repository against the signed chain (docs/integrity.md, *Code*)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from qms.operations.verify.check import Check


def recover(check: Check) -> None:
    """A merge killed midway is finished or undone first (the caller holds the lock), as
    any command completes an interrupted commit."""
    from qms.errors import ValidationError
    from qms.operations.code import landing
    from qms.store.repo import repository

    if not landing.pending(check.project):
        return
    try:
        repo = repository(check.project)[0]
    except ValidationError:
        return
    check.notes += landing.recover(check.project, repo)
