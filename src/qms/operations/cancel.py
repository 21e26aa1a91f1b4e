"""``qms cancel ID --confirm``: abandon a never-approved document (audit trail kept)."""

from __future__ import annotations

from qms.domain import doctypes, permissions, versions
from qms.errors import InvalidTransition, ValidationError
from qms.operations._shared import DocResult, authorize, done, drop_tasks, load
from qms.operations.close import children_of
from qms.store import audit, inbox, users
from qms.store.project import Project


def cancel(project: Project, user: str, *, doc_id: str, confirm: bool = False) -> DocResult:
    group = authorize(project, user, "cancel")
    with project.transaction() as tx:
        doc_id, meta = load(project, doc_id, tx)
        owner = meta.get("responsible_user")
        if group != permissions.ADMINISTRATOR:
            permissions.check_owner("cancel", user, owner, doc_id)
        if versions.major(meta["version"]) >= 1:
            raise InvalidTransition(f"{doc_id} has been approved (v{meta['version']}); it "
                                    "cannot be cancelled. Retire or close it instead.")
        if meta.get("checked_out"):  # REQ-DOC-010: the workspace copy is never discarded
            raise InvalidTransition(
                f"{doc_id} is checked out by {owner}; check it in first (qms --user {owner} "
                f"checkin {doc_id}) or have an administrator release the checkout (qms --user "
                f"lead unlock {doc_id} --reason TEXT), then cancel.", checked_out_by=owner)
        live = [c for c, _ in children_of(project, doc_id, tx)]
        if live:
            raise InvalidTransition(f"{doc_id} has child documents: {', '.join(live)}.")
        doomed = [p for p in (project.draft_path(doc_id), project.effective_path(doc_id),
                              project.meta_path(doc_id), project.source_path(doc_id))
                  if tx.exists(p)]
        for name in users.user_dir_names(project):
            for path in (project.workspace_path(name, doc_id),
                         project.workspace_dir(name) / f"{doc_id}.interact"):
                if tx.exists(path):
                    doomed.append(path)
            doomed += inbox.doc_tasks(project, name, doc_id)
        if not confirm:
            listing = "\n".join(f"  {project.rel(p)}" for p in doomed)
            raise ValidationError(
                f"Cancelling {doc_id} would delete:\n{listing}\nThe audit trail is kept and "
                f"the ID is never reused. Re-run with --confirm to proceed.",
                files=[project.rel(p) for p in doomed])
        for path in doomed:
            tx.delete(path)
        drop_tasks(tx, project, doc_id)
        audit.append(tx, project, doc_id, "CANCEL", user, meta["version"],
                     from_status=meta["status"])
        if "/" in doctypes.folder_of(doc_id):  # a CR/INV's own folder, never QMS/CR or QMS/SOP
            folder = project.doc_dir(doc_id)
            tx.after_commit.append(lambda: _rmdir_if_empty(folder))
    meta["status"] = "CANCELLED"
    return done(meta, f"Cancelled {doc_id}; its audit trail is kept and the ID is retired.")


def _rmdir_if_empty(folder) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
