"""Read-only queries for browsing a project (the web dashboard): every document at a glance,
the versions of one document, and the traceability view of an SDLC namespace."""

from __future__ import annotations

from qms.domain import doctypes, versions as vers, workflow
from qms.domain.qualification import requirement_rows
from qms.errors import NotFound, ValidationError
from qms.operations._shared import Result, authorize, load
from qms.store import audit, index
from qms.store.project import Project

PAGE_SIZE = 100  # rows per page of the dashboard


class DocumentsResult(Result):
    documents: list[dict]  # the rows of this page (every matching row without paging)
    total: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    waiting: list[dict]  # every document in review or approval (unfiltered), oldest ID first
    matched: int = 0  # rows that match the filters and the search
    page: int = 1
    pages: int = 1

    def render(self) -> str:
        lines = [f"{d['doc_id']:<24} v{d['version']:<6} {d['status']:<16} {d['title']}"
                 for d in self.documents]
        return "\n".join([*lines, f"{len(self.documents)} of {self.total} document(s)"])


def documents(project: Project, user: str, *, doc_type: str | None = None,
              status: str | None = None, query: str | None = None,
              page: int | None = None, per_page: int = PAGE_SIZE) -> DocumentsResult:
    """Documents (meta and title only), sorted by type then number; counts per status and
    per type and what waits are over the whole project, the rows are filtered by
    ``doc_type``/``status`` and ``query`` (a case-insensitive part of the ID or title).

    Without ``page`` every matching row is returned, each file checked (:func:`index.entries`).
    With ``page`` (from 1) only that page of ``per_page`` rows, from the listing the server
    keeps (:func:`index.listing`): a look costs the rows it shows, whatever the size."""
    authorize(project, user, "status")
    if page is None:
        view = index.View(sorted((index.row(*e) for e in index.entries(project)),
                                 key=index.order))
    else:
        view = index.listing(project).view()
    rows = view.rows
    if doc_type is not None or status is not None:
        rows = [r for r in rows if (doc_type is None or r["doc_type"] == doc_type)
                and (status is None or r["status"] == status)]
    needle = (query or "").strip().casefold()
    if needle:
        rows = [r for r in rows if needle in r["doc_id"].casefold()
                or needle in str(r["title"]).casefold()]
    matched, pages, at = len(rows), 1, 1
    if page is not None:
        pages = max(1, -(-matched // per_page))
        at = min(max(1, page), pages)
        rows = rows[(at - 1) * per_page:at * per_page]
    return DocumentsResult(rows, len(view.rows), view.by_status, view.by_type,
                           view.waiting, matched, at, pages)


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
