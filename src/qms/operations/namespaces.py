"""``qms namespace list`` / ``qms namespace add NAME`` (add: administrator)."""

from __future__ import annotations

import json

from qms.domain import doctypes
from qms.errors import Conflict, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import audit
from qms.store import namespaces as ns_store
from qms.store.project import Project


class NamespaceResult(Result):
    namespaces: list[str]
    message: str = ""

    def render(self) -> str:
        listing = "\n".join(f"{n:<12} SDLC-{n}/  ({n}-RS, {n}-RTM)" for n in self.namespaces)
        return "\n".join(x for x in (self.message, listing or "No SDLC namespaces.") if x)


def namespace_list(project: Project, user: str) -> NamespaceResult:
    authorize(project, user, "namespace_list")
    return NamespaceResult(ns_store.names(project))


def namespace_add(project: Project, user: str, *, name: str) -> NamespaceResult:
    authorize(project, user, "namespace_add")
    ns = (name or "").strip().upper()
    if not doctypes.NAMESPACE_RE.match(ns):
        raise ValidationError(f"Invalid namespace {name!r}: letters, digits and '_', "
                              "starting with a letter.")
    with project.transaction() as tx:
        registry = ns_store.load(project)
        if ns in registry or (project.qms / f"SDLC-{ns}").is_dir():
            # a folder alone (a project of the earlier tool) already makes it a namespace
            raise Conflict(f"Namespace {ns} already exists.")
        registry[ns] = {"path": f"SDLC-{ns}"}
        tx.write_text(ns_store.registry_path(project), json.dumps(registry, indent=2))
        tx.write_text(project.qms / f"SDLC-{ns}" / ".keep", "")
        audit.append_project(tx, project, "NAMESPACE_ADD", user, namespace=ns)
    return NamespaceResult(ns_store.names(project),
                           f"Added namespace {ns}: create {ns}-RS and {ns}-RTM documents.")
