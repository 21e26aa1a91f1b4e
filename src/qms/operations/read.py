"""``qms read ID [--draft] [--version N.X]``."""

from __future__ import annotations

from qms.domain import versions
from qms.errors import NotFound, ValidationError
from qms.operations import _interactive
from qms.operations._bound import Texts
from qms.operations._shared import Result, authorize, load
from qms.store.project import Project


class ReadResult(Result):
    doc_id: str
    version: str
    source: str
    content: str
    signatures: list[dict] = []  # a text that was in force: the signature records behind it

    def render(self) -> str:
        if not self.signatures:
            return self.content
        return self.content.rstrip("\n") + "\n\n" + manifestation(self.signatures)


def manifestation(signatures: list[dict]) -> str:
    """The signature manifestation block (21 CFR 11.50), built at read time and never
    written into the controlled file."""
    lines = ["-" * 78, "Electronic signatures (shown by qms at read time; not part of the "
             "controlled text)"]
    for s in signatures:
        lines.append(f"  {s['ts']}  {s['signer_name']} ({s['user']})  {s['meaning']}  "
                     f"v{s['version']}  sha256:{s.get('content_sha256') or '-'}")
    return "\n".join(lines)


def read(project: Project, user: str, *, doc_id: str, version: str | None = None,
         draft: bool = False) -> ReadResult:
    """The document's text, only ever as its signed trail binds it (``_bound.Texts``: a
    deleted, planted or substituted text is refused, never served under the signatures of
    the text that was approved)."""
    authorize(project, user, "read")
    doc_id, meta = load(project, doc_id)
    if version and draft:
        raise ValidationError("Use either --draft or --version, not both.")
    current = meta["version"]
    # during an execution checkout meta names the next version; the draft keeps the one
    # checked out until checkin
    held = (meta.get("checked_out") and meta.get("checkout_from_version")) or current
    draft_path, eff_path = project.draft_path(doc_id), project.effective_path(doc_id)
    if version:
        versions.parse(version)
        texts = Texts(project, doc_id)
        if version == held:
            if (text := texts.draft()) is not None:
                return ReadResult(doc_id, version, project.rel(draft_path), text)
            if (text := texts.effective()) is not None:
                return ReadResult(doc_id, version, project.rel(eff_path), text,
                                  texts.signatures("effective"))
        elif version == current:
            raise NotFound(f"{doc_id} v{version} is checked out to "
                           f"{meta.get('responsible_user')} and not checked in yet; the draft "
                           f"holds v{held}.")
        elif version == meta.get("effective_version") \
                and (text := texts.effective()) is not None:
            return ReadResult(doc_id, version, project.rel(eff_path), text,
                              texts.signatures("effective"))
        if (found := texts.archived(project.archive_paths(doc_id, version), version)):
            return ReadResult(doc_id, version, project.rel(found[0]), found[1],
                              texts.signatures("archive", version))
        raise NotFound(f"{doc_id} has no version {version}.")
    if draft:
        text = Texts(project, doc_id).draft()
        if text is None:
            raise NotFound(f"{doc_id} has no draft.")
        return ReadResult(doc_id, held, project.rel(draft_path), text)
    if _interactive.is_interactive(doc_id):
        live = _interactive.on_read(project, meta)
        if live is not None:
            return ReadResult(doc_id, current, *live)
    texts = Texts(project, doc_id)
    if (text := texts.effective()) is not None:
        return ReadResult(doc_id, meta.get("effective_version") or current,
                          project.rel(eff_path), text, texts.signatures("effective"))
    if (text := texts.draft()) is not None:
        return ReadResult(doc_id, held, project.rel(draft_path), text)
    raise NotFound(f"{doc_id} has no document file.")
