"""``qms interact ID [--respond V | --respond --file P] [--reason R] [--goto P]
[--cancel-goto] [--reopen LOOP] [--progress] [--compile]``.

Flag precedence: progress > compile > cancel-goto > goto > reopen > respond/file > status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qms.domain import workflow
from qms.domain.interact import engine
from qms.domain.interact.compiler import compile_template
from qms.domain.interact.source import Source
from qms.domain.interact.template import END, Template
from qms.errors import (
    Conflict, InvalidTransition, NotFound, UsageError, ValidationError)
from qms.operations import _interactive
from qms.operations._shared import Result, check_text, open_doc, read_project_file
from qms.store import git
from qms.store.project import Project
from qms.store.transaction import Transaction


@dataclass
class InteractResult(Result):
    doc_id: str
    action: str  # status | respond | goto | cancel_goto | reopen | progress | compile
    cursor: str  # current prompt key, "__end__" when complete
    complete: bool
    message: str
    text: str  # status, progress or compiled markdown
    recorded: dict[str, Any] | None = None  # {key, value, amended, commit}
    notices: list[str] = field(default_factory=list)

    def render(self) -> str:
        return "\n".join(p for p in (self.message, self.text, *self.notices) if p)


_VIEWS = ("status", "progress", "compile")


def interact(project: Project, user: str, *, doc_id: str, respond: str | None = None,
             file: str | None = None, reason: str | None = None, goto: str | None = None,
             cancel_goto: bool = False, reopen: str | None = None, progress: bool = False,
             compile: bool = False) -> InteractResult:
    if respond and file:
        raise UsageError("Give the answer either as --respond VALUE or as --respond --file "
                         "PATH, not both.")
    respond, reason = _text(respond, "response"), _text(reason, "reason")
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "interact", doc_id, tx)
        template, source, path = _session(tx, project, user, doc_id, meta)
        answer = read_project_file(project, user, file) if file else respond
        notices = _version_notice(template, source)
        action, message, recorded = _dispatch(
            project, user, template, source, notices, answer=answer, reason=reason,
            goto=goto, cancel_goto=cancel_goto, reopen=reopen, progress=progress,
            compile=compile)
        if action not in _VIEWS:
            tx.write_text(path, source.dumps())
    if action == "progress":
        text = engine.progress_text(template, source)
    elif action == "compile":
        text = compile_template(template, source)
    else:
        text = engine.status_text(template, source, user)
    return InteractResult(doc_id, action, engine.position(template, source).key,
                          source.cursor == END, message, text, recorded, notices)


def _text(value: str | None, what: str) -> str | None:
    """Refuse an oversized or non-UTF-8 answer/reason before it reaches the source file."""
    return None if value is None else check_text(value, what)


def _session(tx: Transaction, project: Project, user: str, doc_id: str,
             meta: dict) -> tuple[Template, Source, Path]:
    if not _interactive.is_interactive(doc_id):
        raise ValidationError(f"{doc_id} is not an interactive document; only VRs are "
                              "authored with interact.")
    if meta["status"] in workflow.TERMINAL:
        raise InvalidTransition(f"{doc_id} is {meta['status']}.")
    holder = meta.get("responsible_user")
    if not meta.get("checked_out"):
        raise InvalidTransition(f"{doc_id} is not checked out; run: qms --user {user} "
                                f"checkout {doc_id}")
    if holder != user:
        raise Conflict(f"{doc_id} is checked out by {holder}; only they can answer its "
                       "prompts.", holder=holder)
    path = _interactive.session_path(project, user, doc_id)
    text = tx.read_text(path)
    if text is None:
        raise NotFound(f"{doc_id} has no interactive session ({project.rel(path)}); check it "
                       "in and out again to start one.")
    template = _interactive.load_template(project, tx)
    return template, _interactive.load(template, text, project.rel(path)), path


def _version_notice(template: Template, source: Source) -> list[str]:
    if str(source.template_version) == str(template.version):
        return []
    return [f"Note: this record was started with {source.template} v{source.template_version}; "
            f"the controlled template is now v{template.version}."]


def _dispatch(project: Project, user: str, template: Template, source: Source,
              notices: list[str], *, answer: str | None, reason: str | None,
              goto: str | None, cancel_goto: bool, reopen: str | None, progress: bool,
              compile: bool) -> tuple[str, str, dict[str, Any] | None]:
    """Run the highest-precedence action; return (action, message, recorded)."""
    if progress:
        return "progress", "", None
    if compile:
        return "compile", "", None
    if cancel_goto:
        pos = engine.cancel_goto(template, source)
        return "cancel_goto", f"Amendment cancelled; back at {pos.key}.", None
    if goto:
        pos = engine.goto(template, source, goto, reason)
        return "goto", f"Amending {pos.key}.", None
    if reopen:
        engine.reopen(template, source, reopen, reason=reason, author=user, now=_now())
        return "reopen", f"Reopened loop {reopen}.", None
    if answer is None:
        return "status", "", None

    def commit(context: str, prompt_id: str) -> str | None:
        doc_id = source.doc_id
        paths = [project.draft_path(doc_id), project.meta_path(doc_id),
                 project.source_path(doc_id), project.audit_path(doc_id),
                 project.workspace_path(user, doc_id),
                 _interactive.session_path(project, user, doc_id)]
        from qms.operations.code.systems import governed

        pinned = git.evidence_commit(project.root,
                                     f"[QMS] {doc_id} | {context} | {prompt_id}", paths,
                                     data_only=bool(governed(project)))
        if pinned is None:
            notices.append("No evidence commit was made: the project is not in a git "
                           "repository (run 'git init' there to enable evidence commits).")
        return pinned

    rec = engine.respond(template, source, answer, author=user, now=_now(), reason=reason,
                         commit=commit)
    recorded = {"key": rec.key, "value": rec.value, "amended": rec.amended,
                "commit": rec.commit}
    verb = "Amended" if rec.amended else "Recorded"
    pinned = f" (evidence commit {rec.commit})" if rec.commit else ""
    return "respond", f"{verb} {rec.key}{pinned}.", recorded


def _now() -> datetime:
    return datetime.now(timezone.utc)
