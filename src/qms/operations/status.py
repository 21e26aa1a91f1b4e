"""``qms status ID``: where a document stands."""

from __future__ import annotations

from qms.operations._shared import Result, authorize, load
from qms.store import atomic, frontmatter
from qms.store.project import Project


class StatusResult(Result):
    doc_id: str
    title: str
    version: str
    status: str
    doc_type: str
    location: str
    executable: bool
    execution_phase: str | None
    responsible_user: str | None
    checked_out: bool
    checked_out_date: str | None
    effective_version: str | None
    pending_assignees: list[str]

    def render(self) -> str:
        rows = [("Document", self.doc_id), ("Title", self.title), ("Version", self.version),
                ("Status", self.status), ("Location", self.location), ("Type", self.doc_type),
                ("Executable", "yes" if self.executable else "no"),
                ("Responsible User", self.responsible_user or "-"),
                ("Checked Out", f"yes ({self.checked_out_date})" if self.checked_out else "no")]
        if self.execution_phase:
            rows.insert(7, ("Execution Phase", self.execution_phase))
        if self.effective_version:
            rows.append(("Effective Version", self.effective_version))
        if self.pending_assignees:
            rows.append(("Pending", ", ".join(self.pending_assignees)))
        return "\n".join(f"{k + ':':<18} {v}" for k, v in rows)


def status(project: Project, user: str, *, doc_id: str) -> StatusResult:
    authorize(project, user, "status")
    doc_id, meta = load(project, doc_id)
    path = project.draft_path(doc_id)
    title = _title(project, path)
    if title is None:
        path = project.effective_path(doc_id)
        title = _title(project, path)
    return StatusResult(
        doc_id=doc_id, title=title or "", version=meta["version"],
        status=meta["status"], doc_type=meta.get("doc_type", ""),
        location=project.rel(path) if title is not None else "-",
        executable=bool(meta.get("executable")), execution_phase=meta.get("execution_phase"),
        responsible_user=meta.get("responsible_user"),
        checked_out=bool(meta.get("checked_out")),
        checked_out_date=meta.get("checked_out_date"),
        effective_version=meta.get("effective_version"),
        pending_assignees=list(meta.get("pending_assignees") or []))


_TITLES: dict = {}  # document file -> (identity, title): read again only when it changed


def _title(project: Project, path) -> str | None:
    """The title in a document file's frontmatter ("" without one); None: no such file."""
    return atomic.cached(path, project.root, _TITLES, lambda fd, info: frontmatter.title_of(
        atomic.read_all(fd, info).decode("utf-8", errors="replace")))
