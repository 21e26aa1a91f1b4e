"""How a merge lands, all or nothing (docs/code-control.md, *A merge killed midway*).

``qms merge`` writes, in this order: the merge commit and the tag object (durably; objects
no ref names are harmless), a marker ``.qms/merge.json`` naming them (durably), ``main`` and
the release tag moved by compare-and-swap, then the signed ``CODE_MERGE`` event, whose
journal commit is the commit point, and last the project's checkout. :func:`recover`, run
under the project lock by ``merge``, the push gate, ``release`` and ``verify``, finishes a
merge killed midway: with its event recorded it rolls forward (:func:`land`); without one
it puts ``main`` and the tag back, but only where they still hold exactly what the merge
left (the marker decides nothing on its own: a planted one moves no ref that a merge of
that shape did not move).
"""

from __future__ import annotations

import json
import re

from qms.errors import ProjectError
from qms.operations.code.release import RELEASE_RE, TAGS
from qms.store import atomic
from qms.store.project import Project
from qms.store.git import MAIN, ZERO, Repo

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

MARKER = "merge.json"
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?\Z")


def marker(project: Project):
    return project.state_dir / MARKER


def begin(project: Project, plan: dict[str, Any]) -> None:
    """Record what is about to move, before anything moves."""
    atomic.write_durable(marker(project), json.dumps(plan).encode(), root=project.root)


def pending(project: Project) -> bool:
    return marker(project).exists() or marker(project).is_symlink()


def recover(project: Project, repo: Repo) -> list[str]:
    """Finish or undo a merge killed midway (the caller holds the project lock); returns
    what was done."""
    if not pending(project):
        return []
    try:
        plan = json.loads(atomic.read_bytes(marker(project), project.root) or b"{}")
    except (ProjectError, ValueError):
        plan = {}  # a link or garbage planted there: it names nothing to move
    plan = plan if isinstance(plan, dict) else {}
    event = recorded(project, str(plan.get("new")))
    if event is not None:
        notes = [f"Completed the merge of {event.get('doc_id')} ({event.get('release')}), "
                 "interrupted after its record."] + land(repo, event)
    else:
        notes = _undo(repo, plan)
    atomic.unlink(marker(project), project.root)
    return notes


def recorded(project: Project, new: str) -> dict[str, Any] | None:
    """The signed ``CODE_MERGE`` whose merge commit is ``new``."""
    from qms.store import vouched

    for line, e in reversed(vouched.events(project, "CODE_MERGE")):
        if e.get("new") == new:
            return e if vouched.signed(project, line, e) else None
    return None


def land(repo: Repo, event: dict[str, Any]) -> list[str]:
    """Make the repository what a recorded ``CODE_MERGE`` says: ``main`` and the tag moved
    (each only from where the merge found it), the checkout updated. Idempotent."""
    old, new = str(event.get("old")), str(event.get("new"))
    if repo.rev(MAIN) == old:
        repo.update_ref(MAIN, new, old)
    tag = TAGS + str(event.get("release"))
    if repo.ref(tag) is None:
        repo.update_ref(tag, str(event.get("tag")), ZERO)
    return checkout(repo, old, new)


def _undo(repo: Repo, plan: dict[str, Any]) -> list[str]:
    new, old, tag = (str(plan.get(k)) for k in ("new", "old", "tag"))
    release = str(plan.get("release"))
    if not (_SHA.match(new) and _SHA.match(old) and _SHA.match(tag)
            and RELEASE_RE.match(release)):
        return []
    notes = []
    if repo.ref(TAGS + release) == tag:
        repo.delete_ref(TAGS + release, tag)
        notes.append(f"Removed tag {release} of a merge killed before its record.")
    if repo.rev(MAIN) == new and repo.rev(f"{new}^1") == old:
        repo.update_ref(MAIN, old, new)
        notes.append(f"Moved main back to {old[:12]}: the merge {new[:12]} was killed before "
                     "its record.")
    return notes


def finish(project: Project, repo: Repo, plan: dict[str, Any]) -> list[str]:
    """After the record: the checkout follows ``main`` and the marker goes."""
    warnings = checkout(repo, str(plan["old"]), str(plan["new"]))
    atomic.unlink(marker(project), project.root)
    return warnings


def checkout(repo: Repo, old: str, new: str) -> list[str]:
    """Bring the project's checkout (its index and work tree) from ``old`` to ``new`` when
    it is on ``main``: only the paths that differ between the two trees are touched (a
    two-tree ``read-tree -m -u``), so uncommitted qms data is never clobbered; local
    changes to those paths make git refuse, and a warning says what to do."""
    if repo.work_tree is None:
        return []
    head = repo.git("symbolic-ref", "-q", "HEAD", check=False).decode().strip()
    if head != MAIN:
        return [f"The project's checkout is on {head or 'a detached HEAD'}, not main: its "
                "files were left as they were."]
    repo.git("update-index", "-q", "--refresh", check=False)  # stat data only; git decides
    try:
        repo.git("read-tree", "-m", "-u", old, new)
    except ProjectError as err:
        return [f"main moved to {new[:12]}, but the project's checkout was not updated ("
                f"{err.message}). Stash your changes, then: git read-tree -m -u {old[:12]} "
                f"{new[:12]}"]
    return []
