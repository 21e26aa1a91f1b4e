"""A CR's code record for the dashboard (read-only): its scope in force, execution branch,
pushes (each path in scope or not), the gate's verdict now, and its merges and releases."""

from __future__ import annotations

from qms.domain import doctypes
from qms.errors import ProjectError, QMSError, ValidationError
from qms.operations._shared import Result, authorize
from qms.operations.code import branch as branches, release
from qms.store import audit
from qms.store.project import Project


class CodeRecord(Result):
    doc_id: str
    branch: dict | None
    scope: list[dict]
    pushes: list[dict]
    problem: str = ""
    merges: list[dict] = []
    gate: dict | None = None  # while the CR executes: {verdict, reasons, warnings, ...}

    def render(self) -> str:
        return f"{self.doc_id}: {len(self.pushes)} push(es) on {(self.branch or {}).get('branch')}"


def code_record(project: Project, user: str, *, doc_id: str) -> CodeRecord:
    """``branch`` None when the CR has none."""
    from qms.operations.code.systems import governed

    authorize(project, user, "read")
    doc_id = doctypes.normalize_id(doc_id)
    events = audit.read(project, doc_id)
    opened, pushes = branches.record(events)
    if opened is None:
        return CodeRecord(doc_id, None, [], [])
    problem, allows = "", None
    try:
        scope = branches.in_force(project, doc_id, governed(project), events=events)
        blocks = [s.to_dict() for s in scope.scopes] if scope else []
        allows = scope.allows if scope else None
    except (ProjectError, ValidationError) as err:
        blocks, problem = [opened.get("scope") or {}], err.message
    shown = [{**{k: p.get(k) for k in ("ts", "user", "ref", "old", "new", "via")},
              "commits": p.get("commits") or [],
              "paths": [{"path": x, "in_scope": allows(x) if allows else None}
                        for x in p.get("paths") or []]} for p in pushes]
    merges = [{k: e.get(k) for k in ("ts", "user", "release", "old", "new", "head", "tree",
                                      "rtm")} for e in release.merges(project, doc_id)]
    return CodeRecord(doc_id, {k: opened.get(k) for k in ("branch", "base", "system", "ts",
                                                          "user")},
                      blocks, shown, problem, merges, _gate(project, doc_id))


def _gate(project: Project, doc_id: str) -> dict | None:
    """The gate's verdict now, while the CR executes (None otherwise)."""
    from qms.operations.code import gate
    from qms.store import meta as meta_store

    try:
        if meta_store.load(project, doc_id).get("status") != "IN_EXECUTION":
            return None
        result = gate.gate(project, None, doc_id=doc_id)
    except QMSError as err:
        return {"verdict": "error", "reasons": [{"rule": "check", "message": err.message}]}
    return {k: getattr(result, k) for k in ("verdict", "reasons", "warnings", "head",
                                            "release", "rtm")}
