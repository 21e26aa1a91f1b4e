"""``qms workspace``: documents you have checked out."""

from __future__ import annotations

from qms.domain import doctypes
from qms.errors import QMSError
from qms.operations._shared import Result, authorize
from qms.store import atomic
from qms.store import meta as meta_store
from qms.store.project import Project


class WorkspaceResult(Result):
    user: str
    documents: list[dict]
    warnings: list[str] = []  # damaged documents, refused files (the CLI prints them on stderr)

    def render(self) -> str:
        if not self.documents:
            return "Workspace is empty."
        lines = [f"Workspace of {self.user}:"]
        lines += [f"  {d['doc_id']}  v{d['version']}  {d['status']}  {d['file']}"
                  for d in self.documents]
        return "\n".join(lines)


def workspace(project: Project, user: str) -> WorkspaceResult:
    authorize(project, user, "workspace")
    docs, warnings = [], []
    folder = project.workspace_dir(user)
    listed = atomic.check_dir(project.root, folder) and folder.is_dir()
    for path in sorted(folder.glob("*.md")) if listed else []:
        try:
            atomic.check(project.root, path)
            doc_id = doctypes.normalize_id(path.stem)
            meta = meta_store.load(project, doc_id)
            version, status = meta["version"], meta["status"]
        except QMSError as exc:  # one damaged document never hides the others
            doc_id, version, status = path.stem, "?", "?"
            warnings.append(f"Warning: {project.rel(path)}: {exc.message}")
        docs.append({"doc_id": doc_id, "version": version, "status": status,
                     "file": project.rel(path)})
    return WorkspaceResult(user, docs, warnings)
