"""Helpers every operation uses: authorisation, results, status changes, document text."""

from __future__ import annotations

import os
from pathlib import Path

from qms.domain import doctypes, permissions, versions, workflow
from qms.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from qms.store import atomic, audit, frontmatter, inbox, users
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

MAX_TEXT = 2_000_000  # bytes accepted for a document or a comment


_MISSING = object()
_LEGACY_TASK_HINT = (" The task was assigned before this rule; the author can withdraw the "
                     "document and route it to someone else.")


class Result:
    """Base of every operation result: JSON-safe via ``to_dict``, human text via ``render``.

    A subclass declares its fields as annotated class attributes, in order, as for a
    dataclass: the constructor takes them positionally or by name, a class attribute is the
    default (a list/dict default is copied for each instance), and results compare and print
    field by field. It is deliberately not built on ``dataclasses``, whose import (it loads
    ``inspect``) would cost every CLI call several milliseconds; a subclass may still be a
    ``@dataclass`` if it wants.
    """

    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        own = [n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_")]
        cls._fields = cls._fields + tuple(n for n in own if n not in cls._fields)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields, "
                            f"got {len(args)}")
        values = dict(zip(fields, args))
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {name!r}")
            values[name] = value
        for name in fields:
            if name not in values:
                default = getattr(type(self), name, _MISSING)
                if default is _MISSING:
                    raise TypeError(f"{type(self).__name__}: missing field {name!r}")
                values[name] = default.copy() if isinstance(default, (list, dict)) else default
            setattr(self, name, values[name])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"

    def to_dict(self) -> dict[str, Any]:
        return {n: _plain(getattr(self, n)) for n in self._fields}

    def render(self) -> str:
        """The human text: the result's ``message`` field (a result with more to show, or
        without one, overrides this)."""
        return getattr(self, "message")


def _plain(value: Any) -> Any:
    """A deep, JSON-shaped copy (what ``dataclasses.asdict`` does for result values)."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class DocResult(Result):
    """Outcome of a command that changes one document."""

    doc_id: str
    version: str
    status: str
    message: str
    notices: list[str] = []
    warnings: list[str] = []  # the CLI prints these on stderr

    def render(self) -> str:
        return "\n".join([self.message, *self.notices])


def done(meta: dict[str, Any], message: str, notices: list[str] | None = None,
         warnings: list[str] | None = None) -> DocResult:
    return DocResult(meta["doc_id"], meta["version"], meta["status"], message, notices or [],
                     warnings or [])


def authorize(project: Project, user: str, command: str) -> str:
    """Validate the user and the command against the matrix; return the user's group."""
    group = users.group_of(project, user, check_files=command not in permissions.REPAIRS)
    permissions.check(command, user, group)
    return group


def load(project: Project, doc_id: str, tx: Transaction | None = None) -> tuple[str, dict]:
    """Normalise an ID and load its meta (NotFound if absent)."""
    doc_id = doctypes.normalize_id(doc_id)
    return doc_id, meta_store.load(project, doc_id, tx)


def open_doc(project: Project, user: str, command: str, doc_id: str,
             tx: Transaction) -> tuple[str, dict]:
    authorize(project, user, command)
    return load(project, doc_id, tx)


def open_task(project: Project, user: str, command: str, doc_id: str, tx: Transaction,
              states: frozenset[str], phase: str) -> tuple[str, dict]:
    """Open a document the user acts on as an assignee (review, approve, reject)."""
    doc_id, meta = open_doc(project, user, command, doc_id, tx)
    if meta["status"] not in states:
        raise InvalidTransition(f"{doc_id} is {meta['status']}, not in {phase}.")
    # a task the author holds can only come from data written before this rule
    permissions.check_not_author(command, user, meta.get("responsible_user"), doc_id,
                                 _LEGACY_TASK_HINT if user in meta["pending_assignees"] else "",
                                 text_authors(project, doc_id, draft_text(project, doc_id, tx)))
    done_already = (meta.get("review_outcomes") or {}).get(user)
    if command == "review" and done_already and user not in meta["pending_assignees"]:
        waiting = ", ".join(meta["pending_assignees"]) or "nobody"
        raise Conflict(f"{user} has already reviewed {doc_id} in this round ({done_already}); "
                       f"still waiting for: {waiting}.")
    permissions.check_assigned(command, user, meta["pending_assignees"], doc_id)
    return doc_id, meta


def text_authors(project: Project, doc_id: str, text: str | None) -> dict[str, str]:
    """Who signed authorship of ``text`` (the draft under review), from the document's own
    trail: user -> their CHECKIN (separation of duties, ``permissions.signed_authors``)."""
    from qms.domain import integrity  # deferred: read commands never hash

    digest = integrity.sha256_text(text) if text is not None else None
    return permissions.signed_authors(audit.read(project, doc_id), digest)


def require_owner(command: str, user: str, meta: dict) -> None:
    permissions.check_owner(command, user, meta.get("responsible_user"), meta["doc_id"])


def require_text(value: str | None, what: str, flag: str) -> str:
    if value is None or not str(value).strip():
        raise ValidationError(f"A {what} is required ({flag} TEXT).")
    return check_text(str(value), what)


def check_text(value: str, what: str) -> str:
    """Refuse oversized text, NUL bytes and text that is not valid Unicode (e.g.
    undecodable argv bytes)."""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_TEXT:
        raise ValidationError(f"The {what} is too large (limit {MAX_TEXT} bytes).")
    if "\x00" in value:
        raise ValidationError(f"The {what} contains NUL bytes; is it a binary file?")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"The {what} is not valid UTF-8 text (character {exc.start}).") \
            from None
    return value


def phase_of(meta: dict) -> str | None:
    if not meta.get("executable"):
        return None
    phase = meta.get("execution_phase")
    if phase in (workflow.PRE_RELEASE, workflow.POST_RELEASE):
        return phase
    return workflow.POST_RELEASE if versions.major(meta["version"]) >= 1 else workflow.PRE_RELEASE


def set_status(tx: Transaction, project: Project, meta: dict, user: str, to_status: str) -> None:
    """Move to a new status and record the STATUS_CHANGE (every status change is audited)."""
    from_status = meta["status"]
    meta["status"] = to_status
    audit.append(tx, project, meta["doc_id"], "STATUS_CHANGE", user, meta["version"],
                 from_status=from_status, to_status=to_status)


def clear_tracking(meta: dict) -> None:
    """Forget the current review/approval round (pending, outcomes, retire intent)."""
    meta["pending_assignees"] = []
    meta["review_outcomes"] = {}
    for legacy in ("pending_reviewers", "completed_reviewers"):
        if legacy in meta:
            meta[legacy] = []
    meta.pop("retiring", None)


def release_checkout(meta: dict) -> None:
    meta["checked_out"] = False
    meta["checked_out_date"] = None
    meta.pop("checkout_from_version", None)


def draft_text(project: Project, doc_id: str, tx: Transaction | None = None) -> str | None:
    """The draft; in a transaction (a command about to sign, route or release it) only as
    the trail binds it: a draft changed, planted or deleted outside qms is refused."""
    if tx is None:
        return project.read_text(project.draft_path(doc_id))
    from qms.operations._bound import Texts

    return Texts(project, doc_id, tx).draft()


def current_text(project: Project, doc_id: str, tx: Transaction | None = None) -> str | None:
    """The draft if there is one, else the effective/closed file; in a transaction only as
    the trail binds them (like :func:`draft_text`)."""
    if tx is None:
        text = project.read_text(project.draft_path(doc_id))
        return text if text is not None else project.read_text(project.effective_path(doc_id))
    from qms.operations._bound import Texts

    texts = Texts(project, doc_id, tx)
    text = texts.draft()
    return text if text is not None else texts.effective()


def title(project: Project, doc_id: str, tx: Transaction | None = None) -> str:
    return frontmatter.title_of(current_text(project, doc_id, tx))


def require_draft(project: Project, meta: dict, tx: Transaction) -> str:
    text = draft_text(project, meta["doc_id"], tx)
    if text is None:
        raise NotFound(f"{meta['doc_id']} has no draft ({project.rel(project.draft_path(meta['doc_id']))}).")
    return text


def archive_once(tx: Transaction, project: Project, doc_id: str, version: str,
                 text: str) -> None:
    """Keep ``text`` as ``{ID}-v{version}.md`` unless that version is already archived
    (also where the earlier tool put it)."""
    paths = project.archive_paths(doc_id, version)
    if not any(tx.exists(p) for p in paths):
        tx.write_text(paths[0], text)


def drop_tasks(tx: Transaction, project: Project, doc_id: str, approval_only: bool = False) -> None:
    inbox.remove(tx, project, doc_id, approval_only=approval_only)


# What a read on a caller's behalf never reaches, whoever asks (issue 15): the project's
# private state and git's own files, at any depth (a nested repository's too).
_PRIVATE = {".qms": "the project's private state (signing keys, tokens, journal)",
            ".git": "git's own files (configuration, credentials, hooks)"}


def caller_path(project: Project, user: str, file: str) -> Path:
    """Where ``file`` (relative paths: from the project root) is, if qms may read it for
    ``user``: the caller's own folder ``.claude/users/{user}/`` (workspace, inbox) and the
    project's ordinary files. Refused (PermissionDenied naming the area): anything outside
    the project, under ``.qms/`` or ``.git/``, or in another user's folder. The decision is
    made on the normalised path, which is then opened as it is, without following a link,
    so a link or ``..`` cannot lead anywhere else."""
    if "\x00" in file:
        raise ValidationError("A file name cannot contain NUL bytes.")
    path = Path(os.path.normpath(project.root / Path(file).expanduser()))
    if project.root not in path.parents:
        raise PermissionDenied(f"{file} is outside the project; evidence files must be "
                               "inside the project folder.", path=file)
    parts = path.relative_to(project.root).parts
    folded = [p.casefold() for p in parts]
    area = why = None
    for i, part in enumerate(folded):
        if part in _PRIVATE:
            area, why = "/".join(parts[:i + 1]) + "/", _PRIVATE[part]
            break
    if area is None and folded[:2] == [".claude", "users"] and \
            (len(parts) < 4 or parts[2] != user):
        area = "/".join(parts[:3]) + "/"
        why = "another user's private folder" if len(parts) > 3 else "the users' folders"
    if area is not None:
        raise PermissionDenied(
            f"Refused: {file} is in {area}, {why}. qms reads a file for {user} only from "
            f"their own folder (.claude/users/{user}/) or the project's ordinary files; "
            "nothing was read.", path=project.rel(path), area=area, user=user)
    return path


def read_project_file(project: Project, user: str, file: str) -> str:
    """Text of ``file``, read for ``user`` (:func:`caller_path` decides what may be read),
    without following links and without blocking (a FIFO is refused).

    The one reader of files on a caller's behalf (``interact --respond --file``, ``qualify
    --junit``): evidence must live in the repository to be reproducible, and the MCP server
    must never hand a caller a secret of the project or of another user."""
    path = caller_path(project, user, file)
    try:
        data = atomic.read_bytes(path, project.root)
    except OSError as exc:
        raise ValidationError(f"Cannot read {file}: {exc.strerror}") from None
    if data is None:
        raise NotFound(f"File not found: {file}")
    if len(data) > MAX_TEXT:
        raise ValidationError(f"{file} is too large (limit {MAX_TEXT} bytes).")
    if b"\x00" in data:
        raise ValidationError(f"{file} contains NUL bytes; is it a binary file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{file} is not UTF-8 text.") from None
