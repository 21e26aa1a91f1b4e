"""Releases: the signed ``CODE_MERGE`` events of the project trail, and the release name
``{SYSTEM}-{MAJOR}.{MINOR}`` each merge tags (the first merge of a system is ``-1.0``; then
a minor bump, or a major one when the CR's scope says ``release: major``)."""

from __future__ import annotations

import re

from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Iterator

RELEASE_RE = re.compile(r"^([A-Z][A-Z0-9_]{0,31})-([0-9]{1,9})\.([0-9]{1,9})\Z")
TAGS = "refs/tags/"


def merges(project: Project, doc_id: str | None = None) -> list[dict[str, Any]]:
    """Every ``CODE_MERGE`` the signed chain vouches for (of ``doc_id`` only, when given),
    in order; a line written outside qms counts for nothing (verify reports it)."""
    from qms.store import vouched

    return [e for line, e in vouched.events(project, "CODE_MERGE")
            if (doc_id is None or e.get("doc_id") == doc_id) and vouched.signed(project, line, e)]


def last(project: Project, system: str) -> dict[str, Any] | None:
    """The last vouched ``CODE_MERGE`` of ``system``."""
    return next(_merges(project, system, newest_first=True), None)


def first(project: Project, system: str) -> dict[str, Any] | None:
    """The first vouched ``CODE_MERGE`` of ``system`` (for a grown system: its adoption)."""
    return next(_merges(project, system, newest_first=False), None)


def _merges(project: Project, system: str, newest_first: bool) -> Iterator[dict[str, Any]]:
    from qms.store import vouched

    events = vouched.events(project, "CODE_MERGE")
    for line, e in reversed(events) if newest_first else events:
        if e.get("system") == system and vouched.signed(project, line, e):
            yield e


def next_name(previous: str | None, system: str, major: bool) -> str:
    """The release after ``previous`` (None: the system's first, ``{SYSTEM}-1.0``)."""
    m = RELEASE_RE.match(previous or "")
    if m is None:
        return f"{system}-1.0"
    return f"{system}-{int(m[2]) + 1}.0" if major else f"{system}-{m[2]}.{int(m[3]) + 1}"


def is_release(tag: str, systems: dict[str, Any]) -> bool:
    """Whether a tag name is shaped like a release of one of ``systems``."""
    m = RELEASE_RE.match(tag)
    return m is not None and m[1] in systems
