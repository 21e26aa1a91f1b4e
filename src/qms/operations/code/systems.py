"""``qms system add NAME --path PREFIX ... [--namespace NS]`` (administrator) and ``qms system
list``: parts of the project's repository whose requirements live in ``SDLC-{NS}-RS``/``-RTM``.

A system exists only as a signed ``SYSTEM_ADD`` of the project trail (:func:`governed`
believes an event only when the chain vouches for it). Adding the first one installs the
push gate in the project's repository; from its ``base`` commit on, ``main`` is governed.
"""

from __future__ import annotations


from qms.domain import doctypes, scope
from qms.errors import Conflict, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import audit
from qms.store import namespaces as ns_store
from qms.store.project import Project
from qms.store.git import MAIN, repository

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any



class SystemResult(Result):
    systems: list[dict]
    message: str = ""
    warnings: list[str] = []

    def render(self) -> str:
        rows = [f"{s['name']:<12} SDLC-{s['namespace']}  {', '.join(s['paths'])}  "
                f"(governed from {s['base'][:12]}"
                + (f"; genesis/{s['name']} for {', '.join(s['genesis'])}" if s.get('genesis')
                   else "") + ")" for s in self.systems]
        return "\n".join(x for x in (self.message, "\n".join(rows) or "No systems.") if x)


def governed(project: Project) -> dict[str, dict[str, Any]]:
    """name -> ``{name, paths, namespace, base, seq}`` of every SYSTEM_ADD the signed chain
    vouches for (an unsigned one, written outside qms, is ignored; verify reports it)."""
    trail = project.qms / ".audit" / "project.jsonl"
    from qms.store import atomic, vouched

    if b'"SYSTEM_ADD"' not in (atomic.read_bytes(trail, project.root) or b""):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for line, e in vouched.events(project, "SYSTEM_ADD"):
        name, paths = e.get("name"), e.get("paths")
        if isinstance(name, str) and isinstance(paths, list) and name not in found \
                and vouched.signed(project, line, e):
            genesis = e.get("genesis")
            found[name] = {"name": name, "paths": [str(p) for p in paths],
                           "namespace": str(e.get("namespace") or name),
                           "base": str(e.get("base") or ""), "seq": e.get("seq"),
                           "genesis": [str(u) for u in genesis]
                           if isinstance(genesis, list) else []}
    return found


def system_list(project: Project, user: str) -> SystemResult:
    authorize(project, user, "system_list")
    return SystemResult(list(governed(project).values()))


def system_add(project: Project, user: str, *, name: str, paths: list[str],
               namespace: str | None = None, genesis: list[str] | None = None) -> SystemResult:
    """``genesis``: users who may push to ``genesis/NAME`` until an adoption CR lands it
    (the branch is opened at ``main``)."""
    from qms.operations.code import hook
    from qms.store import users

    authorize(project, user, "system_add")
    name = (name or "").strip()
    if not scope.SYSTEM_RE.match(name):
        raise ValidationError(f"Invalid system name {name!r}: upper-case letters, digits and "
                              "'_', starting with a letter (e.g. APP).")
    ns = (namespace or name).strip().upper()
    if not doctypes.NAMESPACE_RE.match(ns):
        raise ValidationError(f"Invalid namespace {namespace!r}: letters, digits and '_', "
                              "starting with a letter.")
    if not paths:
        raise ValidationError("A system needs at least one --path PREFIX (e.g. src/app).")
    growers = list(dict.fromkeys(users.validate_name(u) for u in genesis or ()))
    for grower in growers:
        users.group_of(project, grower)  # a user qms knows
    repo, project_prefix = repository(project)
    prefixes = list(dict.fromkeys(scope.normalize_prefix(p) for p in paths))
    for p in prefixes:
        if scope.protected(p, project_prefix):
            raise ValidationError(f"{p!r} is qms's own data (the project's QMS/, .qms/, "
                                  ".claude/, qms.config.json), never part of a system.")
    notices = []
    with project.transaction() as tx:
        systems = governed(project)
        if name in systems:
            raise Conflict(f"System {name} already exists (qms system list).")
        for other in systems.values():
            clash = scope.overlap(prefixes, other["paths"])
            if clash:
                raise Conflict(f"Path {clash!r} overlaps system {other['name']} "
                               f"({', '.join(other['paths'])}): a path belongs to one system.")
        base = repo.rev(MAIN)
        if base is None:
            raise ValidationError("The project's repository has no commit on 'main' (git "
                                  "branch -m main; commit first): governance starts there.")
        if not ns_store.known(project, ns):
            from qms.operations.namespaces import namespace_add

            namespace_add(project, user, name=ns)  # joins this transaction
            notices.append(f"Added namespace {ns}.")
        if not systems:
            notices.append(hook.install(repo, project))
        audit.append_project(tx, project, "SYSTEM_ADD", user, name=name, paths=prefixes,
                             namespace=ns, base=base,
                             **({"genesis": growers} if growers else {}))
        if growers:
            from qms.operations.code.genesis import ref_of
            from qms.store.git import ZERO

            left = repo.rev(ref_of(name))  # one left by an add that crashed before its commit
            repo.update_ref(ref_of(name), base, left or ZERO)
            notices.append(f"Opened genesis/{name} at {base[:12]} for {', '.join(growers)}: "
                           "it enters main only through an adoption CR (adopt: true).")
    added = f"Added system {name} ({', '.join(prefixes)}; SDLC-{ns}); main is governed " \
            f"from {base[:12]}."
    return SystemResult(list(governed(project).values()), "\n".join([added, *notices]))
