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
from qms.store import audit
from qms.store.project import Project
from qms.store.git import ZERO
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
             prefix: str | None = None) -> scopes.InForce | None:
    """What may change on ``cr/{doc_id}`` (None: the CR has no scope in force). Once the CR
    is released its block is the one ``CODE_BRANCH`` recorded from the pre-approved text,
    so a push does not parse the text again. ``prefix``: the
    project's folder in the repository (default: asked of the project's repository)."""
    from qms.store.git import repository

    events = audit.read(project, doc_id, tx=tx) if events is None else events
    opened, _ = record(events)
    own = scopes.Scope.from_dict(opened.get("scope") if opened else None) or \
        scope_of(project, doc_id, tx, events)
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
    return scopes.InForce(blocks, system["paths"],
                          repository(project)[1] if prefix is None else prefix)


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
    systems = governed(project)
    system = systems.get(block.system)
    if system is None:
        raise ValidationError(f"{doc_id}: the qms-scope block names system {block.system}, "
                              "which does not exist (qms system list).", doc_id=doc_id)
    try:
        scopes.check_within(block, system["paths"])
        if block.adopt:
            from qms.operations.code.genesis import check_adoption

            if meta["doc_type"] != "CR":
                raise ValidationError("only a CR adopts a system ('adopt: true').")
            check_adoption(project, block, systems)
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
    from qms.operations.code.systems import governed
    from qms.store.git import MAIN, repository

    doc_id = meta["doc_id"]
    if meta["doc_type"] != "CR":
        return None
    events = audit.read(project, doc_id, tx=tx)
    found = pre_approved_text(project, doc_id, events, tx)
    block = None if found is None else scopes.parse_text(found[1])
    if block is None:
        return None
    systems = governed(project)
    if block.system not in systems:
        raise InvalidTransition(f"{doc_id} names system {block.system}, which does not exist "
                                "(qms system list); it cannot be released.", doc_id=doc_id)
    repo = repository(project)[0]
    from qms.operations.code import landing

    landing.recover(project, repo)  # a merge killed midway: main as the chain says
    base = repo.rev(MAIN)
    if base is None:
        raise InvalidTransition("The project's repository has no 'main' to branch from.")
    if block.adopt:
        base = _adopted_base(project, repo, doc_id, block, systems)
    ref = branch_ref(doc_id)
    from qms.domain import integrity

    audit.append(tx, project, doc_id, "CODE_BRANCH", user, meta["version"],
                 branch=ref[len("refs/heads/"):], base=base, system=block.system,
                 scope=block.to_dict(), scope_sha256=integrity.sha256_text(found[1]))
    old = repo.rev(ref)  # a branch left by a release that crashed before its commit
    repo.update_ref(ref, base, old or ZERO)
    return f"Execution branch {ref[len('refs/heads/'):]} at {base[:12]} " + (
        f"(genesis/{block.system}: its adoption)." if block.adopt else "(main).")


def _adopted_base(project: Project, repo: Any, doc_id: str, block: scopes.Scope,
                  systems: dict[str, dict]) -> str:
    """An adoption CR's branch starts at the genesis branch's recorded tip."""
    from qms.operations.code import genesis

    try:
        recorded = genesis.check_adoption(project, block, systems)
    except ValidationError as err:
        raise InvalidTransition(f"{doc_id}: {err.message}", doc_id=doc_id) from None
    if repo.rev(genesis.ref_of(block.system)) != recorded:
        raise InvalidTransition(f"{doc_id}: genesis/{block.system} is not where its last "
                                f"recorded push left it ({recorded[:12]}): run qms verify "
                                "--code.", doc_id=doc_id)
    return recorded


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
    from qms.store import vouched as chain_vouched

    return not chain_vouched.unsigned(project, doc_id, [opened])


def ensure(repo: Any, doc_id: str, branch: dict[str, Any]) -> None:
    """Create ``cr/{doc_id}`` in ``repo`` at its recorded base when it is missing (a crash
    between the release's commit and the ref, or a repository restored without it)."""
    ref = branch_ref(doc_id)
    if repo.rev(ref) is None and branch.get("base"):
        repo.update_ref(ref, str(branch["base"]), ZERO)
