"""Post-review needs the merge: ``route --review`` of a scoped CR out of execution
(docs/code-control.md, *Post-review*).

Refused until the branch is merged (a signed ``CODE_MERGE`` of the CR whose head is the
branch's tip: no push after the last merge) and the mechanical checklist holds
(:mod:`qms.domain.execution`). Returns the notes for the reviewers' task files: the merges,
and the ``expect`` patterns no merge touched.
"""

from __future__ import annotations

from qms.domain import execution
from qms.errors import InvalidTransition, QMSError
from qms.operations.code import branch as branches, release
from qms.store import audit, frontmatter
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.transaction import Transaction


def post_review(project: Project, tx: Transaction, meta: dict, text: str) -> list[str]:
    from qms.operations.code.systems import governed
    from qms.store.git import repository

    doc_id = meta["doc_id"]
    events = audit.read(project, doc_id, tx=tx)
    opened, pushes = branches.record(events)
    if meta["doc_type"] != "CR" or opened is None:
        return []
    merged = release.merges(project, doc_id)
    repo = repository(project)[0]
    tip = repo.rev(branches.branch_ref(doc_id)) or (pushes[-1]["new"] if pushes else None)
    if not merged:
        raise InvalidTransition(
            f"{doc_id} changes code and its branch {opened.get('branch')} is not merged: run "
            f"qms gate {doc_id}, then qms merge {doc_id}, before post-review.", doc_id=doc_id)
    if merged[-1].get("head") != tip:
        raise InvalidTransition(
            f"{opened.get('branch')} moved on after its last merge ({str(tip)[:12]}, merged "
            f"{str(merged[-1].get('head'))[:12]}): merge it again (qms merge {doc_id}) "
            "before post-review.", doc_id=doc_id)
    found = branches.pre_approved_text(project, doc_id, events, tx)
    approved = frontmatter.body(found[1]) if found else ""
    problems = execution.problems(approved, frontmatter.body(text),
                                  lambda d: _exists(project, tx, d))
    if problems:
        raise InvalidTransition(
            f"{doc_id} is not ready for post-review: " + " ".join(
                f"({n}) {p}" for n, p in enumerate(problems, 1)) + " Fix the workspace copy "
            "and route again.", doc_id=doc_id, problems=problems)
    touched = {p for e in merged for p in repo.diff(str(e.get("old")), str(e.get("new")))}
    scope = branches.in_force(project, doc_id, governed(project), tx, events)
    notes = [f"Merged into main as {e.get('release')} ({str(e.get('new'))[:12]}; qualified "
             f"head {str(e.get('head'))[:12]}, {(e.get('rtm') or {}).get('doc_id')} "
             f"v{(e.get('rtm') or {}).get('version')})." for e in merged]
    if scope is not None:
        notes += [f"Warning: {doc_id} declared it would change {p}, which no merge touched: "
                  "judge whether the change is complete." for p in scope.untouched(touched)]
    return notes


def _exists(project: Project, tx: Transaction, doc_id: str) -> bool:
    try:
        meta_store.load(project, doc_id, tx)
    except QMSError:  # no such document (or a damaged one: it cannot vouch for a Fail)
        return False
    return True
