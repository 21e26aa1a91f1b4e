"""``qms read ID [--draft] [--version N.X]``."""

from __future__ import annotations

from qms.domain import versions
from qms.errors import NotFound, ValidationError
from qms.operations import _interactive
from qms.operations._shared import Result, authorize, load
from qms.store.project import Project


class ReadResult(Result):
    doc_id: str
    version: str
    source: str
    content: str
    signatures: list[dict] = []  # EFFECTIVE/CLOSED: the signature records behind the text

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


def signatures_of(project: Project, doc_id: str, status: str) -> list[dict]:
    """Signature records of the text in force: for an EFFECTIVE document those of the
    version that was approved into force, for a CLOSED one all of them."""
    from qms.store import audit  # deferred: only EFFECTIVE/CLOSED reads need the trail

    events = audit.read(project, doc_id)
    if status == "EFFECTIVE":
        made = [e for e in events if e.get("event") == "EFFECTIVE"]
        if not made:
            return []
        events = [e for e in events if e.get("version") == made[-1].get("from_version")]
    keys = ("ts", "user", "signer_name", "meaning", "version", "content_sha256", "event")
    return [{k: e.get(k) for k in keys} for e in events if e.get("meaning")]


def read(project: Project, user: str, *, doc_id: str, version: str | None = None,
         draft: bool = False) -> ReadResult:
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
        candidates = project.archive_paths(doc_id, version)
        if version == held:
            candidates.insert(0, draft_path if draft_path.exists() else eff_path)
        elif version == current:
            raise NotFound(f"{doc_id} v{version} is checked out to "
                           f"{meta.get('responsible_user')} and not checked in yet; the draft "
                           f"holds v{held}.")
        elif version == meta.get("effective_version"):
            candidates.insert(0, eff_path)
        for path in candidates:
            text = project.read_text(path)
            if text is not None:
                return ReadResult(doc_id, version, project.rel(path), text)
        raise NotFound(f"{doc_id} has no version {version}.")
    if draft:
        text = project.read_text(draft_path)
        if text is None:
            raise NotFound(f"{doc_id} has no draft.")
        return ReadResult(doc_id, held, project.rel(draft_path), text)
    if _interactive.is_interactive(doc_id):
        live = _interactive.on_read(project, meta)
        if live is not None:
            return ReadResult(doc_id, current, *live)
    for path, ver in ((eff_path, meta.get("effective_version") or current), (draft_path, held)):
        text = project.read_text(path)
        if text is not None:
            signed = (signatures_of(project, doc_id, meta["status"])
                      if path is eff_path and meta["status"] in ("EFFECTIVE", "CLOSED") else [])
            return ReadResult(doc_id, ver, project.rel(path), text, signed)
    raise NotFound(f"{doc_id} has no document file.")
