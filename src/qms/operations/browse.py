"""Read-only queries for browsing a project (the web dashboard): every document at a glance,
the versions of one document, and the traceability view of an SDLC namespace."""

from __future__ import annotations

import re

from qms.domain import doctypes, versions as vers, workflow
from qms.domain.qualification import requirement_rows
from qms.errors import NotFound, ValidationError
from qms.operations._shared import Result, authorize, load
from qms.store import audit, index
from qms.store.project import Project

# dashboard columns taken from meta (title comes from the document file)
_LISTED = ("doc_id", "doc_type", "version", "status", "responsible_user", "checked_out",
           "checked_out_date", "effective_version", "pending_assignees")
_TYPE_ORDER = {t: n for n, t in enumerate(doctypes.base_types())}


class DocumentsResult(Result):
    documents: list[dict]
    total: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    waiting: list[dict]  # every document in review or approval (unfiltered), oldest ID first

    def render(self) -> str:
        lines = [f"{d['doc_id']:<24} v{d['version']:<6} {d['status']:<16} {d['title']}"
                 for d in self.documents]
        return "\n".join([*lines, f"{len(self.documents)} of {self.total} document(s)"])


def documents(project: Project, user: str, *, doc_type: str | None = None,
              status: str | None = None) -> DocumentsResult:
    """Every document (meta and title only), sorted by type then number; counts per status
    and per type are over the whole project, the list is filtered by ``doc_type``/``status``."""
    authorize(project, user, "status")
    rows, by_status, by_type, waiting = [], {}, {}, []
    for meta, title in index.documents(project):
        row = {k: meta.get(k) for k in _LISTED}
        row["doc_type"] = str(row["doc_type"] or doctypes.type_of(row["doc_id"]))
        row["pending_assignees"] = list(row["pending_assignees"] or [])
        row["title"] = title
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        by_type[row["doc_type"]] = by_type.get(row["doc_type"], 0) + 1
        if row["status"] in workflow.IN_WORKFLOW:
            waiting.append(row)
        if (doc_type is None or row["doc_type"] == doc_type) and \
                (status is None or row["status"] == status):
            rows.append(row)
    rows.sort(key=_order)
    waiting.sort(key=_order)
    return DocumentsResult(rows, sum(by_status.values()), dict(sorted(by_status.items())),
                           dict(sorted(by_type.items(), key=lambda kv: _order_type(kv[0]))),
                           waiting)


def _order_type(doc_type: str) -> tuple[int, str]:
    return _TYPE_ORDER.get(doc_type, len(_TYPE_ORDER)), doc_type


def _order(row: dict) -> tuple:
    return (*_order_type(row["doc_type"]), [int(n) for n in re.findall(r"\d+", row["doc_id"])],
            row["doc_id"])


class VersionsResult(Result):
    doc_id: str
    current: str
    effective: str | None
    versions: list[dict]  # {version, status, approved, date, readable}, oldest first

    def render(self) -> str:
        return "\n".join(f"v{v['version']:<6} {v['status'] or '-':<16} {v['date'] or ''}"
                         f"{'' if v['readable'] else '  (not kept)'}" for v in self.versions)


def document_versions(project: Project, user: str, *, doc_id: str) -> VersionsResult:
    """Every version the audit trail mentions, with the last status it reached, the last
    approval it reached (``approved``: e.g. PRE_APPROVED for a plan now in execution as N.1),
    the date it first appeared and whether its text can be read (current, in force or
    archived)."""
    authorize(project, user, "history")
    doc_id, meta = load(project, doc_id)
    seen: dict[str, dict] = {}
    for event in audit.read(project, doc_id):
        version = event.get("version")
        if not isinstance(version, str) or not _valid(version):
            continue
        entry = seen.setdefault(version, {"version": version, "status": None,
                                          "approved": None,
                                          "date": str(event.get("ts", ""))[:10]})
        if event.get("to_status"):
            entry["status"] = event["to_status"]
            if event["to_status"] in _APPROVALS:
                entry["approved"] = event["to_status"]
    current, effective = meta["version"], meta.get("effective_version")
    for version in (current, effective):
        if version and _valid(version):
            seen.setdefault(version, {"version": version, "status": None, "approved": None,
                                      "date": None})
    seen[current]["status"] = meta["status"]
    for entry in seen.values():
        v = entry["version"]
        entry["readable"] = v in (current, effective) or \
            project.archive_path(doc_id, v).is_file()
    ordered = sorted(seen.values(), key=lambda e: vers.parse(e["version"]))
    return VersionsResult(doc_id, current, effective, ordered)


_APPROVALS = frozenset({workflow.PRE_APPROVED, workflow.POST_APPROVED, workflow.APPROVED,
                        workflow.EFFECTIVE, workflow.CLOSED, workflow.RETIRED})


def _valid(version: str) -> bool:
    try:
        vers.parse(version)
    except ValidationError:
        return False
    return True


class TraceResult(Result):
    namespace: str
    rs: dict            # {doc_id, version, status, source}
    rtm: dict | None    # same, or None when the namespace has no RTM
    columns: list[str]  # RTM columns after the requirement ID
    requirements: list[dict]  # {id, text, rtm: [cells] | None}
    unknown: list[str]  # IDs in the RTM that the RS does not state

    def render(self) -> str:
        lines = [f"{r['id']:<16} {'traced' if r['rtm'] else 'not in RTM':<11} {r['text']}"
                 for r in self.requirements]
        if self.unknown:
            lines.append("In the RTM but not in the RS: " + ", ".join(self.unknown))
        return "\n".join(lines) or f"SDLC-{self.namespace}-RS states no requirements."


def trace(project: Project, user: str, *, namespace: str) -> TraceResult:
    """Requirements of ``SDLC-{NS}-RS`` (in force, else the draft) joined with the rows of
    ``SDLC-{NS}-RTM`` that name them: every table row whose first cell is a ``REQ-`` ID."""
    from qms.operations.read import read  # an operation reused, loaded only when tracing

    ns = (namespace or "").strip().upper()
    if not doctypes.NAMESPACE_RE.match(ns):
        raise ValidationError(f"Invalid namespace {namespace[:40]!r}.")
    authorize(project, user, "read")
    docs = {}
    for kind in ("RS", "RTM"):
        doc_id = f"SDLC-{ns}-{kind}"
        try:
            _, meta = load(project, doc_id)
            text = read(project, user, doc_id=doc_id)
        except NotFound:
            if kind == "RS":
                raise NotFound(f"Namespace {ns} has no requirements spec {doc_id}.",
                               doc_id=doc_id) from None
            docs[kind] = None
            continue
        docs[kind] = ({"doc_id": doc_id, "version": text.version, "status": meta["status"],
                       "source": text.source}, requirement_rows(text.content))
    rs_table = docs["RS"][1][1]
    rtm_header, rtm_rows = docs["RTM"][1] if docs["RTM"] else ([], {})
    rs_ids = {req: cells[0] if cells else "" for req, (_, cells) in rs_table.items()}
    requirements = [{"id": req, "text": text, "rtm": rtm_rows[req][1] if req in rtm_rows
                     else None} for req, text in rs_ids.items()]
    return TraceResult(ns, docs["RS"][0], docs["RTM"][0] if docs["RTM"] else None,
                       rtm_header, requirements, [r for r in rtm_rows if r not in rs_ids])
