"""``qms merge CR-NNN`` and ``qms_merge``: the CR's responsible user lands its branch on
``main`` (docs/code-control.md, *qms merge*).

Inside the project transaction: the gate again (:func:`qms.operations.code.gate.evaluate`),
then the ``--no-ff`` merge commit (plumbing: ``merge-tree --write-tree``, ``commit-tree``)
whose tree is exactly the qualified head's outside qms's own data (and ``main``'s inside
it), checked by two diffs before anything moves; the release tag object; ``main`` and the
tag moved by compare-and-swap; the signed project event ``CODE_MERGE``. The ordering and
its recovery are :mod:`qms.operations.code.landing`'s.
"""

from __future__ import annotations

from qms.errors import Conflict, InvalidTransition, ProjectError
from qms.operations._shared import Result, authorize, load, require_owner, title
from qms.operations.code import gate as gates, landing
from qms.operations.code.release import TAGS
from qms.store import audit, users
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.git import MAIN, ZERO, Repo, printable

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any



class MergeResult(Result):
    doc_id: str
    commit: str  # the merge commit, main's new tip
    old: str  # main before
    head: str  # the qualified head
    tree: str
    release: str
    tag: str  # the tag object
    message: str
    warnings: list[str] = []


def merge(project: Project, user: str, *, doc_id: str) -> MergeResult:
    from qms.store.git import repository

    authorize(project, user, "merge")
    doc_id, meta = load(project, doc_id)
    require_owner("merge", user, meta)
    repo, prefix = repository(project)
    notes: list[str] = []
    plan: dict[str, Any] = {}
    try:
        with project.transaction() as tx:
            require_owner("merge", user, meta_store.load(project, doc_id, tx))
            notes += landing.recover(project, repo)
            g = gates.evaluate(project, repo, doc_id, prefix=prefix, tx=tx)
            if g.verdict != gates.PASS:
                raise InvalidTransition(f"The gate refuses to land {doc_id}:\n" + "\n".join(
                    f"  [{r['rule']}] {r['message']}" for r in g.reasons), reasons=g.reasons)
            plan = _objects(project, repo, user, g, prefix)
            landing.begin(project, plan)
            _move(repo, plan)
            audit.append_project(tx, project, "CODE_MERGE", user, doc_id=doc_id,
                                 system=g.system, branch=f"cr/{doc_id}", old=plan["old"],
                                 new=plan["new"], head=g.head, tree=plan["tree"],
                                 release=plan["release"], tag=plan["tag"], rtm=g.rtm, rs=g.rs)
    except BaseException:
        if plan:  # a ref may have moved without its record: put it back
            with project.transaction():
                landing.recover(project, repo)
        raise
    with project.transaction():  # the record is there: the checkout follows, under the lock
        notes += landing.finish(project, repo, plan)
    return MergeResult(
        doc_id, plan["new"], plan["old"], str(g.head), plan["tree"], plan["release"],
        plan["tag"], f"Merged {doc_id} into main: {plan['new'][:12]} (tree {plan['tree'][:12]}, "
        f"the qualified head {str(g.head)[:12]}'s), released as {plan['release']}.",
        [*g.warnings, *notes])


def _objects(project: Project, repo: Repo, user: str, g: gates.GateResult, prefix: str
             ) -> dict[str, Any]:
    """The merge commit and the release tag object (no ref names them yet)."""
    old, head = str(g.main), str(g.head)
    tree = _tree(repo, old, head, prefix)
    doc_id = g.doc_id
    import time

    name = users.display_name(project, user).replace("<", "").replace(">", "").strip() or user
    when = f"{int(time.time())} +0000"
    identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": f"{user}@qms.invalid",
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": f"{user}@qms.invalid",
                "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    rtm = g.rtm or {}
    subject = " ".join(title(project, doc_id).split())[:120]
    message = (f"Merge {doc_id}: {subject} ({g.release})\n\n"
               f"QMS-CR: {doc_id}\nQMS-Qualified: {head}\n"
               f"QMS-RTM: {rtm.get('doc_id')} v{rtm.get('version')}\n"
               f"QMS-Release: {g.release}\n")
    commit = repo.commit_tree(tree, [old, head], message, identity)
    tag = repo.mktag(commit, str(g.release), f"{name} <{user}@qms.invalid> {when}",
                     f"{g.release}: {doc_id} {subject}\n\nQMS-Qualified: {head}\n")
    return {"doc_id": doc_id, "old": old, "new": commit, "head": head, "tree": tree,
            "release": g.release, "tag": tag}


def _tree(repo: Repo, old: str, head: str, prefix: str) -> str:
    """The tree that lands: the head's outside qms's own data, ``main``'s inside it. The
    gate proved ``main`` is an ancestor of the head or moved only by qms data commits, so
    a clean merge gives exactly that; two diffs make sure before anything moves."""
    from qms.domain.scope import protected

    tree = repo.tree(head) if repo.is_ancestor(old, head) else repo.merge_tree(old, head)
    if tree is None:
        raise Conflict(f"main ({old[:12]}) and the head ({head[:12]}) do not merge cleanly: "
                       "merge main into your branch, test and qualify again.")
    not_head = [p for p in repo.diff(tree, head) if not protected(p, prefix)]
    not_main = [p for p in repo.diff(tree, old) if protected(p, prefix)]
    if not_head or not_main:
        wrong = (not_head or not_main)[0]
        raise ProjectError(f"The merged tree differs from the qualified head's at "
                           f"{printable(wrong)!r} (or from main's qms data): nothing moved.")
    return tree


def _move(repo: Repo, plan: dict[str, Any]) -> None:
    """``main`` and the tag, each by compare-and-swap: a ``main`` moved meanwhile (a commit
    in the checkout) or a tag already there refuses the merge, with nothing moved."""
    try:
        repo.update_ref(MAIN, plan["new"], plan["old"])
    except ProjectError:
        raise Conflict(f"main moved while {plan['doc_id']} was being merged (it is no longer "
                       f"{plan['old'][:12]}): nothing was merged; run qms gate "
                       f"{plan['doc_id']}.") from None
    try:
        repo.update_ref(TAGS + plan["release"], plan["tag"], ZERO)
    except ProjectError:
        raise Conflict(f"The tag {plan['release']} already exists (made outside qms?): "
                       f"nothing was merged; run qms verify.") from None
