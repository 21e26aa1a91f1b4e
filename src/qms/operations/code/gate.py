"""``qms gate CR-NNN [--head SHA] [--qms-ref REF]`` and ``qms_gate``: may the CR's branch land
on ``main``? Read-only; every reason is listed (docs/code-control.md, *The merge gate*).

A change may land when (each a rule of the refusal):

* ``state``: the CR is scoped, IN_EXECUTION, its ``CODE_BRANCH`` and pushes signed;
* ``head``: the head is the tip of ``cr/CR-NNN``, left there by a recorded push, and every
  commit on the branch arrived by one;
* ``main``: the merge's code is exactly the head's: ``main`` is an ancestor of the head, or
  changed since the branch left it (their merge base) only in qms's own data;
* ``scope``: the branch's net change (from where it left ``main``) lies in the scope in
  force; ``expect`` patterns never touched are warnings;
* ``requirements``: ``SDLC-{NS}-RS`` is EFFECTIVE (and took no new effective version since
  the branch opened, when the scope says ``requirements: unchanged``);
* ``rtm``: ``SDLC-{NS}-RTM`` is EFFECTIVE, its generated section is the one a QUALIFY wrote
  at exactly the head commit and tree, from a clean tree, against the RS in force;
* ``evidence``: that QUALIFY's stored JUnit files, re-hashed and re-evaluated against the RS
  in force, leave no failing or untested requirement (unknown IDs are warnings).

Verdicts: ``pass`` (exit 0), ``fail`` (1), ``error`` (2: could not check: unknown CR, no
repository, missing objects). ``--qms-ref REF`` reads the QMS state committed at ``REF``
(unpacked with ``git archive`` into a temporary folder) and takes ``REF`` as ``main``: a
hosted CI job's check against the repository's own committed data.
"""

from __future__ import annotations

from qms.domain import doctypes, integrity, qualification, rtm
from qms.errors import PermissionDenied, ProjectError, QMSError
from qms.operations._shared import Result, authorize
from qms.operations.code import branch as branches, release
from qms.store import audit, frontmatter, vouched
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.git import MAIN, Repo, listed
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

PASS, FAIL, ERROR = "pass", "fail", "error"


class GateResult(Result):
    doc_id: str
    verdict: str  # pass | fail | error
    reasons: list[dict]  # {rule, message}
    warnings: list[str] = []
    head: str | None = None
    tree: str | None = None
    main: str | None = None
    system: str | None = None
    release: str | None = None  # the tag a merge now would make
    rtm: dict | None = None  # {doc_id, version} of the RTM in force
    rs: dict | None = None
    paths: list[str] = []  # the branch's net change

    @property
    def exit_code(self) -> int:
        return {PASS: 0, FAIL: 1}.get(self.verdict, 2)

    def fail(self, rule: str, message: str) -> None:
        self.verdict = FAIL if self.verdict == PASS else self.verdict
        self.reasons.append({"rule": rule, "message": message})

    def render(self) -> str:
        if self.verdict == PASS:
            return (f"PASS: {self.doc_id} may land: head {(self.head or '')[:12]} (tree "
                    f"{(self.tree or '')[:12]}) onto main {(self.main or '')[:12]}, "
                    f"{len(self.paths)} path(s) in scope, qualified by "
                    f"{(self.rtm or {}).get('doc_id')} v{(self.rtm or {}).get('version')}; "
                    f"qms merge {self.doc_id} tags {self.release}.")
        word = "FAIL: it may not land" if self.verdict == FAIL else "ERROR: could not check"
        return "\n".join([f"{word} ({self.doc_id}):",
                          *(f"  [{r['rule']}] {r['message']}" for r in self.reasons)])


def gate(project: Project, user: str | None, *, doc_id: str, head: str | None = None,
         qms_ref: str | None = None) -> GateResult:
    """The gate's verdict on ``doc_id``'s branch. ``user`` None: no identity (the CLI
    without ``--user``, as a CI job runs it: the gate only reads committed data)."""
    from qms.store.git import repository

    if user is not None:
        authorize(project, user, "read")
    name = doctypes.normalize_id(doc_id) if doc_id else ""
    try:
        repo, prefix = repository(project)
        if qms_ref is None:
            from qms.operations.code import landing

            if landing.pending(project):
                raise ProjectError("A merge is being completed (or was killed midway): run "
                                   "qms verify, which finishes or undoes it, then ask again.")
            return evaluate(project, repo, name, head=head, prefix=prefix)
        return _at_ref(repo, prefix, name, head, qms_ref)
    except PermissionDenied:
        raise
    except QMSError as err:
        return GateResult(name, ERROR, [{"rule": "check", "message": err.message}])


def _at_ref(repo: Repo, prefix: str, doc_id: str, head: str | None, ref: str) -> GateResult:
    import tempfile
    from pathlib import Path

    from qms.errors import NotFound
    from qms.store.git import check_ref, snapshot

    main = repo.rev(check_ref(ref))
    if main is None:
        raise NotFound(f"--qms-ref {ref}: no such commit in the repository (git fetch?).")
    with tempfile.TemporaryDirectory(prefix="qms-gate-") as tmp:
        state = Project.open(snapshot(repo, main, prefix, Path(tmp)))
        result = evaluate(state, repo, doc_id, head=head, main=main, prefix=prefix)
    result.warnings.insert(0, f"QMS state and main read from {ref} ({main[:12]}).")
    return result


def evaluate(project: Project, repo: Repo, doc_id: str, *, head: str | None = None,
             main: str | None = None, prefix: str = "", tx: Transaction | None = None
             ) -> GateResult:
    """The checks, against ``project``'s QMS state and ``repo`` (``main``: the commit the
    change would land on; default the repository's ``main``; ``tx``: under the lock, as
    ``merge`` runs it: each document's state is checked against its signed last event).
    Raises a QMSError when it cannot check (see the module)."""
    from qms.errors import NotFound
    from qms.operations.code.systems import governed

    meta = meta_store.load(project, doc_id, tx)
    g = GateResult(doc_id, PASS, [])
    events = audit.read(project, doc_id)
    opened, pushes = branches.record(events)
    if meta["doc_type"] != "CR" or opened is None:
        g.fail("state", f"{doc_id} has no execution branch (no qms-scope block in the text "
               "its pre-approval signed, or not released): nothing to land.")
        return g
    if vouched.unsigned(project, doc_id, [opened, *pushes]):
        g.fail("state", f"the CODE_BRANCH or CODE_PUSH events of {doc_id} are not vouched "
               f"for by the signed chain (edited outside qms): run qms verify {doc_id}.")
        return g
    if meta["status"] != "IN_EXECUTION":
        g.fail("state", f"{doc_id} is {meta['status']}: a change lands only while its CR is "
               "IN_EXECUTION.")
    systems = governed(project)
    system = systems.get(str(opened.get("system")))
    if system is None:
        g.fail("state", f"{doc_id}'s system {opened.get('system')} is not a system the "
               "signed trail knows.")
        return g
    g.system = system["name"]
    ref = branches.branch_ref(doc_id)
    refs = {r: (obj, tree) for r, obj, tree in repo.tips(ref, MAIN)}  # one git command
    tip = refs.get(ref, (None, None))[0]
    found = repo.rev(head) if head else tip
    if found is None:
        raise NotFound(f"The repository has no commit {head}." if head else
                       f"{ref} does not exist here: pass --head SHA.", doc_id=doc_id)
    g.head = found
    g.tree = refs[ref][1] if found == tip else repo.tree(found)
    g.main = main or refs.get(MAIN, (None, None))[0]
    if g.main is None:
        raise NotFound("The repository has no main.")
    if tip is not None and tip != found:
        g.fail("head", f"{found[:12]} is not the tip of {ref[11:]} ({tip[:12]}).")
    base = repo.merge_base(g.main, found)
    _history(g, repo, opened, pushes, prefix, base)
    scope = branches.in_force(project, doc_id, systems, events=events, prefix=prefix)
    g.paths = repo.diff(base, found) if base else []
    outside = [p for p in g.paths if scope is None or not scope.allows(p)]
    if outside:
        g.fail("scope", f"{len(outside)} path(s) of the branch's change lie outside the scope "
               f"in force: {listed(outside)}. Undo them, or raise a VAR whose block widens "
               "the scope.")
    if not g.paths:
        g.fail("scope", "the branch changes nothing against main.")
    if scope is not None:
        g.warnings += [f"{doc_id} expected to change {p}, which the branch never touched."
                       for p in scope.untouched(g.paths)]
    own = scope.scopes[0] if scope else None
    if own is not None and own.adopt:
        _grown(g, project, repo, str(opened.get("base")))
    previous = release.last(project, g.system)
    g.release = release.next_name(previous.get("release") if previous else None, g.system,
                                  own is not None and own.release == "major")
    rs = _requirements(g, project, system["namespace"], opened,
                       own is not None and own.requirements == "unchanged", tx)
    _traceability(g, project, system["namespace"], rs, tx)
    return g


def _history(g: GateResult, repo: Repo, opened: dict, pushes: list[dict], prefix: str,
             base: str | None) -> None:
    """``head``: every commit on the branch came by a recorded push; ``main``: the merge's
    code is the head's."""
    from qms.domain.scope import protected

    head, main = str(g.head), str(g.main)
    if head not in {p.get("new") for p in pushes} | {opened.get("base")}:
        g.fail("head", f"{head[:12]} is not where a recorded push (or the release) left "
               f"{opened.get('branch')}.")
    recorded = {c for p in pushes for c in p.get("commits") or ()}
    stray = [c for c in repo.rev_list(head, [main, str(opened.get("base"))]) if c not in recorded]
    if stray:
        g.fail("head", f"{len(stray)} commit(s) on the branch arrived by no recorded push "
               f"(e.g. {stray[-1][:12]}): push only through the gate.")
    if base == main:  # main is an ancestor of the head
        return
    moved = [p for p in repo.diff(base, main) if not protected(p, prefix)] if base else ["/"]
    if moved:
        g.fail("main", f"main changed {len(moved)} path(s) of code since the branch left it "
               f"({listed(moved)}): merge main into your branch (git fetch; git merge "
               "origin/main), run the tests, qualify and approve the RTM again.")


def _grown(g: GateResult, project: Project, repo: Repo, base: str) -> None:
    """An adoption: the genesis commits it lands arrived by recorded genesis pushes."""
    from qms.operations.code import genesis

    grown = {c for e in genesis.pushes(project, str(g.system)) for c in e.get("commits") or ()}
    stray = [c for c in repo.rev_list(base, [str(g.main)]) if c not in grown]
    if stray:
        g.fail("head", f"{len(stray)} commit(s) of genesis/{g.system} arrived by no recorded "
               f"genesis push (e.g. {stray[-1][:12]}).")


def _effective(g: GateResult, project: Project, doc_id: str, rule: str,
               tx: Transaction | None) -> tuple[str, list[dict]] | None:
    """``(version in force, events)`` of an EFFECTIVE document, or a failure."""
    from qms.errors import NotFound

    try:
        meta = meta_store.load(project, doc_id, tx)
    except NotFound:
        g.fail(rule, f"{doc_id} does not exist.")
        return None
    if meta.get("status") != "EFFECTIVE" or not meta.get("effective_version"):
        g.fail(rule, f"{doc_id} is {meta.get('status')} (v{meta.get('version')}), not "
               "EFFECTIVE: take it through approval first.")
        return None
    return str(meta["effective_version"]), audit.read(project, doc_id)


def _made(events: list[dict], version: str) -> dict | None:
    """The event that put ``version`` in force."""
    return next((e for e in reversed(events) if e.get("event") == "EFFECTIVE"
                 and e.get("version") == version), None)


def _requirements(g: GateResult, project: Project, ns: str, opened: dict,
                  unchanged: bool, tx: Transaction | None) -> tuple[str, str, list] | None:
    """The RS in force: ``(doc_id, version, requirement rows)``."""
    from qms.operations._bound import Texts

    rs_id = f"SDLC-{ns}-RS"
    found = _effective(g, project, rs_id, "requirements", tx)
    if found is None:
        return None
    version, events = found
    g.rs = {"doc_id": rs_id, "version": version}
    made = _made(events, version)
    if made is None or vouched.unsigned(project, rs_id, [made]):
        g.fail("requirements", f"{rs_id} v{version} has no signed EFFECTIVE event.")
        return None
    if unchanged and any(e.get("event") == "EFFECTIVE" and (e.get("seq") or 0) > (
            opened.get("seq") or 0) for e in events):
        g.fail("requirements", f"{rs_id} took effect at v{version} after {opened.get('branch')} "
               "was opened, but the scope says requirements: unchanged.")
    try:
        text = Texts(project, rs_id).effective() or ""
    except ProjectError as err:
        g.fail("requirements", err.message)
        return None
    return rs_id, version, qualification.parse_requirements(frontmatter.body(text))


def _traceability(g: GateResult, project: Project, ns: str,
                  rs: tuple[str, str, list] | None, tx: Transaction | None) -> None:
    """The RTM in force was written by a QUALIFY at the head, and its evidence holds."""
    from qms.operations._bound import Texts

    rtm_id = f"SDLC-{ns}-RTM"
    found = _effective(g, project, rtm_id, "rtm", tx)
    if found is None:
        return
    version, events = found
    g.rtm = {"doc_id": rtm_id, "version": version}
    made = _made(events, version)
    at = events.index(made) if made is not None else len(events)
    qual = next((e for e in reversed(events[:at]) if e.get("event") == "QUALIFY"), None)
    if made is None or qual is None:
        g.fail("rtm", f"{rtm_id} v{version} was not written by qms qualify: run the tests at "
               "the head, qms qualify that run and approve the RTM.")
        return
    if vouched.unsigned(project, rtm_id, [made, qual]):
        g.fail("rtm", f"the QUALIFY or EFFECTIVE event of {rtm_id} is not signed: run qms "
               f"verify {rtm_id}.")
        return
    try:
        section = rtm.generated(Texts(project, rtm_id).effective() or "")
    except ProjectError as err:
        g.fail("rtm", err.message)
        return
    where = f"{rtm_id} v{version}"
    if section is None or integrity.sha256_text(section) != qual.get("generated_sha256"):
        g.fail("rtm", f"{where}: its traceability section is not the one qms qualify wrote "
               "(edited by hand, or written before qualify recorded it).")
    if qual.get("commit") != g.head or qual.get("tree") != g.tree:
        g.fail("rtm", f"{where} was qualified at {str(qual.get('commit') or 'no commit')[:40]}, "
               f"not at the head {str(g.head)[:12]}: run the tests at the head, qualify that "
               "run and approve the RTM again.")
    if qual.get("dirty") is not False:
        g.fail("rtm", f"{where} was qualified from a working tree with uncommitted changes.")
    if rs is not None and qual.get("rs") != {"doc_id": rs[0], "version": rs[1]}:
        got = qual.get("rs") or {}
        g.fail("rtm", f"{where} was qualified against {got.get('doc_id')} v{got.get('version')}"
               f", but {rs[0]} v{rs[1]} is in force: qualify again.")
    if rs is not None:
        _evidence(g, project, where, qual, rs[2])


def _evidence(g: GateResult, project: Project, where: str, qual: dict, requirements: list
              ) -> None:
    """Re-hash the stored JUnit files and re-evaluate them against the RS in force."""
    cases: list[Any] = []
    files = qual.get("evidence") or []
    for item in files:
        sha = str(item.get("sha256"))
        path = project.evidence_path(sha)
        try:
            text = project.read_text(path)
        except ProjectError as err:
            text, why = None, err.message
        else:
            why = "it is missing"
        if text is None or integrity.sha256_text(text) != sha:
            g.fail("evidence", f"{where}: the evidence {project.rel(path)} "
                   f"{why if text is None else 'does not match its hash'}.")
            continue
        found, props = qualification.parse_report(text, sha[:12])
        if props.get("qms.commit") and qual.get("commit") == g.head and \
                not str(g.head).startswith(props["qms.commit"]):
            g.fail("evidence", f"{where}: {item.get('file')} names commit "
                   f"{props['qms.commit'][:12]}, not the head.")
        cases += found
    if not files:
        g.fail("evidence", f"{where} stores no evidence.")
    evaluation = qualification.evaluate(requirements, cases)
    for line in qualification.gaps(evaluation):
        if line.startswith("UNKNOWN"):
            g.warnings.append(f"{where}: {' '.join(line.split())}")
        else:
            g.fail("evidence", f"{where}: {' '.join(line.split())}")
