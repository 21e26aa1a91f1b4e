"""A CR's execution branch ``cr/CR-NNN`` and the scope in force on it.

* :func:`scope_of`: the ``qms-scope`` block of the text the pre-approval signatures bind
  (the APPROVE that made the document PRE_APPROVED, read through ``_bound.Texts`` so a text
  changed outside qms is refused);
* :func:`in_force`: the CR's scope widened by its VARs once each is PRE_APPROVED (unless the
  CR is exploratory), with the system's prefixes: the one object whose ``allows(path)``
  decides;
* :func:`check_text`: what ``route --review`` refuses in a CR's or VAR's block;
* :func:`open_branch`: ``release`` of a scoped CR creates the branch at the tip of ``main``
  and records ``CODE_BRANCH``;
* :func:`record`: a CR's ``CODE_BRANCH`` and ``CODE_PUSH`` events, read back per branch.
"""

from __future__ import annotations

import re

from qms.domain import doctypes, scope as scopes
from qms.errors import InvalidTransition, ProjectError, ValidationError
from qms.operations._shared import Result
from qms.store import audit, jsonl
from qms.store.project import Project
from qms.store.repo import ZERO
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

PREFIX = "refs/heads/cr/"
BRANCH_RE = re.compile(r"^refs/heads/cr/(CR-[0-9]{3,})\Z")


def branch_ref(doc_id: str) -> str:
    return PREFIX + doc_id


def pre_approved_text(project: Project, doc_id: str, events: list[dict],
                      tx: Transaction | None = None) -> tuple[str, str] | None:
    """``(version, text)`` the pre-approval signatures bind, or None (never pre-approved)."""
    from qms.operations._bound import Texts

    approved = version = None
    for e in events:
        if e.get("event") == "APPROVE":
            approved = e.get("version")
        elif e.get("event") == "STATUS_CHANGE" and e.get("to_status") == "PRE_APPROVED":
            version = approved
    if version is None:
        return None
    found = Texts(project, doc_id, tx).archived(project.archive_paths(doc_id, version), version)
    if found is None:
        raise ProjectError(f"{doc_id}: the text pre-approved at v{version} is missing from "
                           f"the archive. Run 'qms verify {doc_id}'.", doc_id=doc_id)
    return version, found[1]


def scope_of(project: Project, doc_id: str, tx: Transaction | None = None,
             events: list[dict] | None = None) -> scopes.Scope | None:
    """The scope block of the pre-approved text (None: not pre-approved, or no block)."""
    events = audit.read(project, doc_id, tx=tx) if events is None else events
    found = pre_approved_text(project, doc_id, events, tx)
    return None if found is None else scopes.parse_text(found[1])


def in_force(project: Project, doc_id: str, systems: dict[str, dict],
             tx: Transaction | None = None, events: list[dict] | None = None,
             ) -> scopes.InForce | None:
    """What may change on ``cr/{doc_id}`` (None: the CR has no scope in force). Once the CR
    is released its block is the one ``CODE_BRANCH`` recorded from the pre-approved text
    (with that text's hash), so a push does not parse the text again."""
    from qms.store.repo import repository

    events = audit.read(project, doc_id, tx=tx) if events is None else events
    opened, _ = record(events)
    recorded = opened.get("scope") if opened else None
    own = scopes.Scope(**recorded) if isinstance(recorded, dict) and \
        set(recorded) == set(scopes.KEYS) else scope_of(project, doc_id, tx, events)
    if own is None:
        return None
    system = systems.get(own.system)
    if system is None:
        raise ValidationError(f"{doc_id} names system {own.system}, which the signed trail "
                              "does not know (qms system list).", doc_id=doc_id)
    blocks = [own]
    if not own.exploratory:
        for var in _variances(project, doc_id):
            widening = scope_of(project, var, tx)
            if widening is not None and widening.system == own.system:
                blocks.append(widening)
    return scopes.InForce(blocks, system["paths"], repository(project)[1])


def _variances(project: Project, doc_id: str) -> list[str]:
    folder = project.qms / ".meta" / "VAR"
    if not folder.is_dir():
        return []
    names = (p.name[:-5] for p in folder.glob(f"{doc_id}-VAR-*.json"))
    return sorted(n for n in names if doctypes.parent_of(n) == doc_id)


def check_text(project: Project, meta: dict, text: str) -> list[str]:
    """Refuse a malformed block, an unknown system or paths outside it (``route --review``
    of a CR or VAR); a VAR's block must widen a scoped, non-exploratory parent of the same
    system. Returns notices."""
    if scopes.FENCE_INFO not in text or meta["doc_type"] not in ("CR", "VAR"):
        return []
    from qms.operations.code.systems import governed

    doc_id = meta["doc_id"]
    try:
        block = scopes.parse_text(text)
    except ValidationError as err:
        raise ValidationError(f"{doc_id}: {err.message} Fix the block in your workspace copy "
                              "and route again (docs/code-control.md).", doc_id=doc_id) from None
    if block is None:
        return []
    system = governed(project).get(block.system)
    if system is None:
        raise ValidationError(f"{doc_id}: the qms-scope block names system {block.system}, "
                              "which does not exist (qms system list).", doc_id=doc_id)
    try:
        scopes.check_within(block, system["paths"])
    except ValidationError as err:
        raise ValidationError(f"{doc_id}: {err.message}", doc_id=doc_id) from None
    if meta["doc_type"] == "VAR":
        parent = doctypes.parent_of(doc_id)
        own = scope_of(project, parent) if parent else None
        if own is None:
            raise ValidationError(f"{doc_id}: its parent {parent} has no scope in force, so a "
                                  "qms-scope block here widens nothing.", doc_id=doc_id)
        if own.exploratory:
            raise ValidationError(f"{doc_id}: {parent} is exploratory; only a new CR widens "
                                  "its scope.", doc_id=doc_id)
        if own.system != block.system:
            raise ValidationError(f"{doc_id}: the block names system {block.system}, its "
                                  f"parent {parent} system {own.system}.", doc_id=doc_id)
    return [f"Scope: system {block.system}, paths {', '.join(block.paths)}."]


def open_branch(tx: Transaction, project: Project, user: str, meta: dict) -> str | None:
    """``release`` of a scoped CR: ``cr/CR-NNN`` at the tip of ``main``, recorded as a signed
    ``CODE_BRANCH`` (None: the CR is not scoped)."""
    from qms.operations.code.systems import MAIN, governed
    from qms.store.repo import repository

    doc_id = meta["doc_id"]
    if meta["doc_type"] != "CR":
        return None
    events = audit.read(project, doc_id, tx=tx)
    found = pre_approved_text(project, doc_id, events, tx)
    block = None if found is None else scopes.parse_text(found[1])
    if block is None:
        return None
    if block.system not in governed(project):
        raise InvalidTransition(f"{doc_id} names system {block.system}, which does not exist "
                                "(qms system list); it cannot be released.", doc_id=doc_id)
    repo = repository(project)[0]
    base = repo.rev(MAIN)
    if base is None:
        raise InvalidTransition("The project's repository has no 'main' to branch from.")
    ref = branch_ref(doc_id)
    from qms.domain import integrity

    audit.append(tx, project, doc_id, "CODE_BRANCH", user, meta["version"],
                 branch=ref[len("refs/heads/"):], base=base, system=block.system,
                 scope=block.to_dict(), scope_sha256=integrity.sha256_text(found[1]))
    old = repo.rev(ref)  # a branch left by a release that crashed before its commit
    repo.update_ref(ref, base, old or ZERO)
    return f"Execution branch {ref[len('refs/heads/'):]} at {base[:12]} (main)."


def record(events: list[dict]) -> tuple[dict | None, list[dict]]:
    """A CR's last ``CODE_BRANCH`` and its ``CODE_PUSH`` events since, oldest first."""
    branch, pushes = None, []
    for e in events:
        if e.get("event") == "CODE_BRANCH":
            branch, pushes = e, []
        elif e.get("event") == "CODE_PUSH" and branch is not None:
            pushes.append(e)
    return branch, pushes


def vouched(project: Project, doc_id: str, opened: dict[str, Any]) -> bool:
    """Whether the chain vouches for this ``CODE_BRANCH`` (its exact line, signed): the
    scope the gate enforces is read from it."""
    from qms.domain import integrity
    from qms.store import atomic
    from qms.store import vouched as chain_vouched

    data = atomic.read_bytes(project.audit_path(doc_id), project.root) or b""
    for line in reversed(integrity.lines_of(data)):
        if b'"CODE_BRANCH"' in line:
            event = jsonl.parse_line(line)
            if event is not None and event.get("seq") == opened.get("seq"):
                return chain_vouched.signed(project, line, event, doc_id)
    return False


def ensure(project: Project, doc_id: str, branch: dict[str, Any]) -> None:
    """Create ``cr/{doc_id}`` at its recorded base when it is missing (a crash between the
    release's commit and the ref, or a repository restored without it)."""
    from qms.store.repo import repository

    repo = repository(project)[0]
    ref = branch_ref(doc_id)
    if repo.rev(ref) is None and branch.get("base"):
        repo.update_ref(ref, str(branch["base"]), ZERO)


class CodeRecord(Result):
    doc_id: str
    branch: dict | None
    scope: list[dict]
    pushes: list[dict]
    problem: str = ""

    def render(self) -> str:
        return f"{self.doc_id}: {len(self.pushes)} push(es) on {(self.branch or {}).get('branch')}"


def code_record(project: Project, user: str, *, doc_id: str) -> CodeRecord:
    """A CR's scope in force, execution branch and pushes (each path: in scope or not), for
    the dashboard; ``branch`` None when the CR has none. Read-only."""
    from qms.operations._shared import authorize
    from qms.operations.code.systems import governed

    authorize(project, user, "read")
    doc_id = doctypes.normalize_id(doc_id)
    events = audit.read(project, doc_id)
    opened, pushes = record(events)
    if opened is None:
        return CodeRecord(doc_id, None, [], [])
    problem, allows = "", None
    try:
        scope = in_force(project, doc_id, governed(project), events=events)
        blocks = [s.to_dict() for s in scope.scopes] if scope else []
        allows = scope.allows if scope else None
    except (ProjectError, ValidationError) as err:
        blocks, problem = [opened.get("scope") or {}], err.message
    shown = [{**{k: p.get(k) for k in ("ts", "user", "ref", "old", "new", "via")},
              "commits": p.get("commits") or [],
              "paths": [{"path": x, "in_scope": allows(x) if allows else None}
                        for x in p.get("paths") or []]} for p in pushes]
    return CodeRecord(doc_id, {k: opened.get(k) for k in ("branch", "base", "system", "ts", "user")},
                  blocks, shown, problem)
