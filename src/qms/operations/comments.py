"""``qms comments ID [--version N.X]``: review and rejection comments."""

from __future__ import annotations

from qms.domain import rounds, versions, workflow as wf
from qms.operations._shared import Result, authorize, load
from qms.store import audit
from qms.store.project import Project


class CommentsResult(Result):
    doc_id: str
    comments: list[dict]
    notices: list[str] = []

    def render(self) -> str:
        out = []
        for c in self.comments:
            out.append(f"--- [v{c['version']}] {c['user']} ({c['outcome']}) - {c['ts']} ---")
            out.append(c["comment"])
            out.append("")
        if not self.comments:
            out.append(f"No comments on {self.doc_id}.")
        return "\n".join(out + self.notices).rstrip()


def comments(project: Project, user: str, *, doc_id: str,
             version: str | None = None) -> CommentsResult:
    authorize(project, user, "comments")
    doc_id, meta = load(project, doc_id)
    if version:
        versions.parse(version)
    found, notices = [], []
    for e in rounds.seal(audit.read(project, doc_id), meta["status"], user):
        if e.get("event") not in ("REVIEW", "REJECT") or not e.get("comment"):
            continue  # a sealed review has no comment
        if version and e.get("version") != version:
            continue
        found.append({"version": e.get("version"), "user": e.get("user"), "ts": e.get("ts"),
                      "outcome": e.get("outcome") or "REJECTED", "comment": e["comment"]})
    if meta["status"] in wf.REVIEW_STATES:
        notices.append("Other reviewers' comments of the open review round stay hidden until "
                       "the round completes.")
    return CommentsResult(doc_id, found, notices)
