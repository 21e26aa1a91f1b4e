"""The push gate's decision (``pre-receive``): every push all or nothing, each accepted one a
signed ``CODE_PUSH`` on its CR's trail (docs/code-control.md, *The push gate*).

Rules, in the order a refusal names them:

* ``main-and-tags``: ``main`` and every tag are declined (only ``qms merge`` moves them);
* ``branch``: only ``cr/CR-NNN`` (and ``genesis/<SYSTEM>`` of a system added for genesis,
  by the users named, until its adoption: :mod:`.genesis`) may be pushed; creating any
  other branch is declined;
* ``delete``: no ref is ever deleted;
* ``executor``: only CR-NNN's responsible user, only while CR-NNN is IN_EXECUTION, and only
  on a branch its release opened (``CODE_BRANCH``);
* ``stale``: the push starts at the branch's tip as the chain records it (two pushes at once
  cannot both be recorded against the same old tip);
* ``fast-forward``: the new tip descends from the old one;
* ``trailer``: every new commit carries ``QMS-CR: CR-NNN`` naming the branch's CR;
* ``merge``: a merge commit has two parents, the second from ``main``;
* ``scope``: every path a new commit changes (a merge: its change against the ``main``
  parent, so no "evil merge" slips past) is allowed by the scope in force
  (:meth:`qms.domain.scope.InForce.allows`).

The decision and the record are made under the project lock. Git moves the ref only after
the hook accepts; a push killed in between leaves a record whose ``new`` never landed: the
branch still holds the record's ``old``, and the next push from there is accepted once the
process that made the record is gone (:func:`_in_flight`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from qms.errors import PermissionDenied
from qms.operations._shared import Result, authorize
from qms.operations.code import branch as branches, genesis
from qms.store import atomic, audit
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.git import MAIN, ZERO, Repo, printable
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

_IN_EXECUTION = "IN_EXECUTION"


class Refused(PermissionDenied):
    """A push the gate declines: ``rule``, ``ref``, and the first offending commit and path."""


class PushResult(Result):
    governed: bool
    pushes: list[dict] = []
    message: str = ""


def _refuse(rule: str, ref: str, why: str, todo: str, commit: str | None = None,
            path: str | None = None) -> Refused:
    where = f" (commit {commit[:12]}" + (f", path {path!r}" if path is not None else "") + ")" \
        if commit else ""
    return Refused(f"qms push gate: {ref} refused [{rule}]: {why}{where}. {todo} Nothing was "
                   "pushed or recorded.", rule=rule, ref=ref, commit=commit, path=path)


def code_receive(project: Project, user: str | None, *, git_dir: str,
            updates: list[tuple[str, str, str]], via: str = "local",
            holder: tuple[int, str] | None = None) -> PushResult:
    """Decide ``updates`` (``(old, new, ref)`` as git hands them to ``pre-receive``) pushed by
    ``user`` into the repository at ``git_dir``; record each as ``CODE_PUSH``. Raises
    :class:`Refused` (nothing recorded) on the first rule broken. ``holder``: the pid and
    start time of the receiving git process (whose end means an unlanded push is dead)."""
    from qms.operations.code.systems import governed

    systems = governed(project)
    if not systems:
        return PushResult(False, message="")  # no system: the repository is not governed
    if not user:
        raise _refuse("identity", updates[0][2] if updates else "push", "qms does not know who "
                      "is pushing", "Push from your code area (qms code checkout sets the push "
                      "option qms-user), or set QMS_USER (and your token when auth.cli is "
                      "required).")
    try:
        authorize(project, user, "code_push")
    except PermissionDenied as err:  # a group that never executes a CR: the executor rule
        raise _refuse("executor", updates[0][2] if updates else "push", err.message,
                      "Code is pushed by a CR's responsible user while the CR executes, or "
                      "to a genesis/ branch by a user an administrator named.") \
            from None
    repo = Repo(Path(git_dir).resolve())
    with project.transaction() as tx:
        _recover(project)
        plans = [_plan(project, tx, repo, user, old, new, ref, systems)
                 for old, new, ref in updates]
        for plan in plans:
            doc_id, meta, record = plan
            if meta is None:  # a genesis branch: the system's, on the project trail
                audit.append_project(tx, project, "GENESIS_PUSH", user, system=doc_id,
                                     via=via, **record)
                doc_id = f"genesis-{doc_id}"
            else:
                audit.append(tx, project, doc_id, "CODE_PUSH", user, meta["version"], via=via,
                             **record)
            if holder is not None:
                _mark(project, doc_id, record["new"], holder)
    pushed = [{"doc_id": d, **{k: r[k] for k in ("ref", "old", "new")},
               "commits": len(r["commits"]), "paths": len(r["paths"])} for d, _, r in plans]
    lines = [f"qms: {p['ref']} {p['old'][:12]}..{p['new'][:12]} recorded for {p['doc_id']} "
             f"({p['commits']} commit(s), {p['paths']} path(s))" for p in pushed]
    return PushResult(True, pushed, "\n".join(lines))


def _recover(project: Project) -> None:
    """A merge killed midway is finished or undone first: main is what the chain says."""
    from qms.operations.code import landing

    if landing.pending(project):
        from qms.store.git import repository

        landing.recover(project, repository(project)[0])


def _plan(project: Project, tx: Transaction, repo: Repo, user: str, old: str, new: str,
          ref: str, systems: dict) -> tuple[str, dict, dict[str, Any]]:
    if ref == MAIN or ref.startswith("refs/tags/"):
        raise _refuse("main-and-tags", ref, "main and tags move only through qms merge",
                      "Push your work to your CR's branch cr/CR-NNN instead.")
    if new == ZERO:
        raise _refuse("delete", ref, "no ref is deleted under code control",
                      "Leave the branch; qms keeps it with its CR.")
    if ref.startswith(genesis.PREFIX):
        return _genesis(project, repo, user, old, new, ref, systems)
    match = branches.BRANCH_RE.match(ref)
    if match is None:
        raise _refuse("branch", ref, "only execution branches cr/CR-NNN (and a new system's "
                      "genesis/SYSTEM) can be pushed", "Create a CR, release it and push to "
                      "cr/CR-NNN (qms code checkout).")
    doc_id = match.group(1)
    meta = _executing(project, tx, ref, doc_id, user)
    events = audit.read(project, doc_id, tx=tx)
    opened, pushes = branches.record(events)
    if opened is None:
        raise _refuse("executor", ref, f"{doc_id} has no execution branch (it has no scope in "
                      "force, or was released before it had one)", "Push to the branch of a "
                      "scoped CR that is in execution.")
    if not branches.vouched(project, doc_id, opened):
        raise _refuse("executor", ref, f"the CODE_BRANCH of {doc_id} is not vouched for by "
                      "the signed audit chain (edited outside qms)", f"Run 'qms verify "
                      f"{doc_id}' and tell an administrator.")
    base = _check_tip(project, repo, ref, doc_id, old, new, opened, pushes)
    scope = branches.in_force(project, doc_id, systems, tx, events)
    if scope is None:
        raise _refuse("scope", ref, f"{doc_id} has no scope in force", "Ask QA.")
    main = repo.rev(MAIN)
    return doc_id, meta, _judge(repo, ref, old, new, [base, main or ""], main, scope, doc_id,
                                f"the scope in force is {doc_id}'s approved qms-scope block; "
                                "or raise a VAR whose block widens it")


def _genesis(project: Project, repo: Repo, user: str, old: str, new: str, ref: str,
             systems: dict) -> tuple[str, None, dict[str, Any]]:
    """A push to ``genesis/<SYSTEM>``: a user the administrator named, before adoption,
    fast-forward, inside the system's paths; no trailer asked."""
    from qms.store.git import repository

    name = ref[len(genesis.PREFIX):]
    system = systems.get(name)
    if system is None or not system.get("genesis"):
        raise _refuse("branch", ref, f"{name} is not a system added for genesis", "Ask an "
                      "administrator: qms system add NAME --path P --genesis USER.")
    if user not in system["genesis"]:
        raise _refuse("executor", ref, f"only {', '.join(system['genesis'])} push to "
                      f"genesis/{name}; you are {user}", "Ask an administrator.")
    adopted = genesis.adopted(project, name)
    if adopted is not None:
        raise _refuse("executor", ref, f"{name} was adopted by {adopted.get('doc_id')} "
                      f"({adopted.get('release')}): its code changes through CRs now",
                      "Raise a CR whose scope names the system.")
    start = _check_tip(project, repo, ref, f"genesis-{name}", old, new,
                       {"base": system["base"]}, genesis.pushes(project, name))
    scope = genesis.whole(system, repository(project)[1])
    main = repo.rev(MAIN)
    return name, None, _judge(repo, ref, old, new, [start, main or ""], main, scope, None,
                              "a genesis branch changes only its system's paths")


def _judge(repo: Repo, ref: str, old: str, new: str, exclude: list[str], main: str | None,
           scope: Any, trailer: str | None, why_scope: str) -> dict[str, Any]:
    """The push's new commits (from ``new``, none of ``exclude``), each judged: it carries
    exactly the trailer ``QMS-CR: {trailer}`` (None: no trailer asked, a genesis branch), it
    is no root commit, a merge only from main, and every path it changes (a merge: against
    its main parent) is allowed by ``scope``. Returns the push's record."""
    commits = repo.new_commits(new, exclude)
    new_set = {c for c, _, _ in commits}
    pairs: list[tuple[str, str | None]] = []
    for sha, parents, named_by in commits:
        named = {t.strip() for t in named_by.split(",") if t.strip()}
        if trailer is not None and named != {trailer}:
            why = "it carries no QMS-CR trailer" if not named else \
                f"its QMS-CR trailer names {', '.join(sorted(named))}"
            raise _refuse("trailer", ref, f"every commit must name {trailer}; {why}",
                          f"Reword it with the trailer 'QMS-CR: {trailer}' (the code area's "
                          "commit-msg hook adds it; git commit --amend, or git rebase -i).", sha)
        if not parents:
            raise _refuse("merge", ref, "a root commit (no parent) does not belong on a "
                          "governed branch", f"Build on {branch_name(ref)} as cloned.", sha)
        if len(parents) > 2 or (len(parents) == 2 and (
                parents[1] in new_set or main is None or not repo.is_ancestor(parents[1], main))):
            raise _refuse("merge", ref, "a merge commit is allowed only from main (two "
                          "parents, the second on main)", "Merge only main into your "
                          "branch (git fetch; git merge origin/main), or rebase.", sha)
        pairs.append((sha, parents[-1]))
    changed = repo.changed_paths(pairs)
    every: set[str] = set()
    for sha, _ in pairs:
        for path in changed.get(sha, ()):
            if not scope.allows(path):
                raise _refuse("scope", ref, _outside(path, scope), f"Undo that change ({why_scope}).",
                              sha, printable(path))
            every.add(path)
    return {"ref": ref, "old": old, "new": new, "commits": [c for c, _, _ in commits],
            "paths": sorted(printable(p) for p in every)}


def branch_name(ref: str) -> str:
    return ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref


def _outside(path: str, scope: Any) -> str:
    from qms.domain.scope import protected, under

    if protected(path, scope.project_prefix):
        return "it changes qms's own data (QMS/, .qms/, .claude/, qms.config.json)"
    if not under(scope.prefixes, path):
        return f"the path is outside the system ({', '.join(scope.prefixes)})"
    return "the path is outside the CR's approved scope"


def _executing(project: Project, tx: Transaction, ref: str, doc_id: str, user: str) -> dict:
    from qms.errors import NotFound

    try:
        meta = meta_store.load(project, doc_id, tx)
    except NotFound:
        raise _refuse("executor", ref, f"{doc_id} does not exist", "Push to your own CR's "
                      "branch.") from None
    if meta["status"] != _IN_EXECUTION:
        raise _refuse("executor", ref, f"{doc_id} is {meta['status']}, not IN_EXECUTION",
                      "Code is pushed only while its CR executes (after release, before "
                      "post-review).")
    owner = meta.get("responsible_user")
    if owner != user:
        raise _refuse("executor", ref, f"only {doc_id}'s responsible user ({owner or 'nobody'}) "
                      f"pushes to it; you are {user}", "Push to the branch of a CR you "
                      "execute.")
    return meta


def _check_tip(project: Project, repo: Repo, ref: str, doc_id: str, old: str, new: str,
               opened: dict, pushes: list[dict]) -> str:
    """The commit the push starts from (its ``old``; the branch's base when the ref is new
    to this repository), checked against the chain's recorded tip."""
    recorded = str(pushes[-1]["new"]) if pushes else str(opened.get("base"))
    start = old if old != ZERO else (str(opened.get("base")) if not pushes else None)
    if start != recorded:
        last = pushes[-1] if pushes else None
        unlanded = last is not None and last.get("old") == old and \
            not _in_flight(project, doc_id, recorded) and repo.rev(ref) == (
                None if old == ZERO else old)
        if not unlanded:
            raise _refuse("stale", ref, f"the branch's recorded tip is {recorded[:12]}, the "
                          f"push starts from {old[:12]} (another push landed or is under way)",
                          f"git fetch, then git merge or rebase onto origin/{branch_name(ref)} "
                          "and push again.")
        start = old if old != ZERO else str(opened.get("base"))
    if not repo.is_ancestor(start, new):
        raise _refuse("fast-forward", ref, "the push is not a fast-forward (it rewrites the "
                      "branch's history)", "Never force-push: merge or rebase onto "
                      f"origin/{branch_name(ref)} and push again.", new)
    return start


# -- pushes in flight: recorded, not yet landed -------------------------------------------
def _marker(project: Project, doc_id: str):
    return project.state_dir / "pushes" / f"{doc_id}.json"


def _mark(project: Project, doc_id: str, new: str, holder: tuple[int, str]) -> None:
    """Remember which process will move the ref to ``new`` (read by :func:`_in_flight`)."""
    path = _marker(project, doc_id)
    data = json.dumps({"new": new, "pid": holder[0], "start": holder[1]}).encode()
    atomic.write_bytes(path, data, project.root)  # read by live processes: no sync needed


def _in_flight(project: Project, doc_id: str, new: str) -> bool:
    """Whether the process that recorded the push to ``new`` may still move the ref."""
    try:
        data = json.loads(atomic.read_bytes(_marker(project, doc_id), project.root) or b"{}")
    except (OSError, ValueError):
        return True  # unreadable: assume the worst (a planted link, a damaged file)
    if not isinstance(data, dict) or data.get("new") != new:
        return False  # the recording process never got as far as marking: it is gone
    return process_start(int(data.get("pid") or 0)) == data.get("start")


def process_start(pid: int) -> str | None:
    """A process's start time (``/proc/PID/stat`` field 22; with the pid it names one
    process for good), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None if os.path.isdir("/proc") else "unknown"
    return stat.rsplit(")", 1)[-1].split()[19] if ")" in stat else None
