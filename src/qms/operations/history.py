"""``qms history ID``: the audit trail, one line per event."""

from __future__ import annotations

from qms.domain import doctypes, rounds, workflow as wf
from qms.errors import NotFound, ProjectError
from qms.operations._shared import Result, authorize
from qms.store import audit
from qms.store import meta as meta_store
from qms.store.project import Project


class HistoryResult(Result):
    doc_id: str
    events: list[dict]
    warnings: list[str] = []  # damaged lines of the trail (the CLI prints them on stderr)

    def render(self) -> str:
        if not self.events:
            return f"No audit events for {self.doc_id}."
        lines = [f"History of {self.doc_id} ({len(self.events)} events)"]
        lines += [describe(e) for e in self.events]
        return "\n".join(lines)


def describe(e: dict) -> str:
    line = f"[{e.get('ts', '?')}] {e.get('event', '?')} by {e.get('user', '?')} - v{e.get('version', '?')}"
    kind = e.get("event")
    if kind == "CREATE" and e.get("title"):
        line += f' "{e["title"]}"'
    elif kind == "STATUS_CHANGE":
        line += f" {e.get('from_status')} -> {e.get('to_status')}"
    elif kind in ("ROUTE_REVIEW", "ROUTE_APPROVAL"):
        line += f" {e.get('review_type') or e.get('approval_type')} to {', '.join(e.get('assignees', []))}"
    elif kind == "ASSIGN":
        line += f" {', '.join(e.get('assignees', []))}"
    elif kind in ("EFFECTIVE", "RETIRE") or (kind == "CHECKOUT" and e.get("from_version")):
        line += f" (from v{e.get('from_version')})"
    elif kind == "REVIEW":
        line += (" (outcome and comment hidden until the review round completes)"
                 if e.get("sealed") else f" {e.get('outcome')}")
    elif kind == "WITHDRAW":
        line += f" {e.get('from_status')} -> {e.get('to_status')}"
    if e.get("meaning"):
        line += (f"\n    signature: {e.get('signer_name') or e.get('user')} ({e.get('user')}), "
                 f"{e['meaning']}, {e.get('ts')}")
        if e.get("content_sha256"):
            line += f", sha256:{e['content_sha256']}"
        if isinstance(e.get("passkey"), dict):
            line += f", passkey {e['passkey'].get('cred')}"
    for key in ("comment", "reason"):
        if e.get(key):
            text = str(e[key]).replace("\n", "\n      ")
            line += f"\n    {key}: {text}"
    return line


def history(project: Project, user: str, *, doc_id: str, public: bool = False) -> HistoryResult:
    """The trail as ``user`` may see it: other reviewers' entries of an open review round
    are sealed (``qms.domain.rounds``); ``public`` (a shared screen: the web pages) seals the
    caller's own too."""
    authorize(project, user, "history")
    doc_id = _existing(project, doc_id)
    damage: list[str] = []
    events = audit.read(project, doc_id, damage)
    try:
        meta = meta_store.load(project, doc_id)
    except NotFound:  # cancelled: no round is open
        meta = {"status": None}
    except ProjectError as err:  # the trail stays readable; a round may be open: stay blind
        damage.append(err.message)
        meta = {"status": wf.IN_REVIEW}
    events = rounds.seal(events, meta["status"], None if public else user)
    return HistoryResult(doc_id, events, [f"Warning: {d}" for d in damage])


def _existing(project: Project, doc_id: str) -> str:
    """History also works for cancelled documents, whose trail is kept."""
    norm = doctypes.normalize_id(doc_id)
    if project.meta_path(norm).exists() or project.audit_path(norm).exists():
        return norm
    raise NotFound(f"Document {norm} not found.", doc_id=norm)
