"""A QMS project on disk: where every file lives, the lock, and transactions.

Layout (compatible with the earlier tool)::

    {root}/qms.config.json
    {root}/QMS/{SOP,TEMPLATE,SDLC-NS}/{ID}.md | {ID}-draft.md
    {root}/QMS/{CR,INV}/{ROOT}/{ID}.md | {ID}-draft.md       (children live in the root's folder)
    {root}/QMS/.meta/{TYPE}/{ID}.json    (+ VR {ID}.source.json)
    {root}/QMS/.audit/{TYPE}/{ID}.jsonl
    {root}/QMS/.archive/{folder}/{ID}-v{N.X}.md   (earlier tool also: .archive/{CR,INV}/{ID}-v{N.X}.md)
    {root}/QMS/CR/{TYPE}-NNN[-draft].md  legacy child without parent in its ID (read, never created)
    {root}/QMS/.evidence/{sha256}.xml    (test results a qualification used; immutable)
    {root}/.claude/users/{u}/{workspace,inbox}/
    {root}/.claude/agents/{u}.md
    {root}/.qms/                         lock, journal, server pid/log (not versioned)
"""

from __future__ import annotations

import _thread
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from qms.domain import doctypes
from qms.errors import ProjectError
from qms.store import atomic, transaction
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Iterator

CONFIG_FILE = "qms.config.json"
ENV_ROOT = "QMS_PROJECT_ROOT"


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.qms = root / "QMS"
        self.state_dir = root / ".qms"
        self.journal = self.state_dir / "journal"  # see transaction.write_journal
        self.users_dir = root / ".claude" / "users"
        self.agents_dir = root / ".claude" / "agents"
        self._open_tx: dict[int, Transaction] = {}  # thread id -> its outermost transaction

    # -- opening ---------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path) -> "Project":
        path = Path(root).expanduser()
        if not (path / "QMS").is_dir():
            raise ProjectError(
                f"No QMS project at {path}: it has no QMS/ folder. "
                "Run 'qms init' there first, or pass the project root.")
        project = cls(path.resolve())
        if transaction.pending(project.journal):
            with project.transaction():
                pass  # entering recovers the interrupted commit
        return project

    @classmethod
    def discover(cls, start: str | Path | None = None) -> "Project":
        """Walk up from ``start`` (default: cwd) to the folder with qms.config.json or QMS/."""
        env = os.environ.get(ENV_ROOT)
        if start is None and env:
            return cls.open(env)
        here = Path(start or os.getcwd()).resolve()
        candidates = [here, *here.parents]
        for folder in candidates:
            if (folder / CONFIG_FILE).is_file():
                return cls.open(folder)
        for folder in candidates:
            if (folder / "QMS").is_dir():
                return cls.open(folder)
        raise ProjectError(
            f"No QMS project found in {here} or its parents. Run 'qms init' to create one "
            f"or set {ENV_ROOT}.")

    # -- transactions ----------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """The project lock and one all-or-nothing change set. An operation called inside
        another's transaction (on the same thread) joins it: the outermost one commits, so a
        composite operation (``qualify`` creates, checks in and stores evidence) is atomic."""
        atomic.check_dir(self.root, self.state_dir)  # .qms/ is a real folder, not a link
        thread = _thread.get_ident()
        joined = self._open_tx.get(thread)
        if joined is not None:
            yield joined
            return
        with transaction.project_lock(self.state_dir / "lock"), atomic.kept_folders(self.root):
            transaction.recover(self.root, self.journal)
            tx = Transaction(self.root)
            self._open_tx[thread] = tx
            try:
                yield tx
                tx.commit(self.journal)
            finally:
                del self._open_tx[thread]
        if transaction.COMMITTED:
            for hook in transaction.COMMITTED:
                hook(str(self.root), tx.paths())
        for callback in tx.after_commit:
            callback()

    def read_text(self, path: Path) -> str | None:
        """A file of this project as text (None if absent); links and special files are
        refused (:func:`qms.store.atomic.read_text`)."""
        return atomic.read_text(path, self.root)

    # -- document paths (each built from one string and kept: they are on every command's
    # path, and a long-running server asks for the same few again and again) ---------------
    def doc_dir(self, doc_id: str) -> Path:
        return _path(f"{self.qms}/{doctypes.folder_of(doc_id)}")

    def draft_path(self, doc_id: str) -> Path:
        return _path(f"{self.qms}/{doctypes.folder_of(doc_id)}/{doc_id}-draft.md")

    def effective_path(self, doc_id: str) -> Path:
        return _path(f"{self.qms}/{doctypes.folder_of(doc_id)}/{doc_id}.md")

    def meta_path(self, doc_id: str) -> Path:
        return _path(f"{self.qms}/.meta/{doctypes.type_of(doc_id)}/{doc_id}.json")

    def source_path(self, doc_id: str) -> Path:
        return _path(f"{self.qms}/.meta/{doctypes.type_of(doc_id)}/{doc_id}.source.json")

    def audit_path(self, doc_id: str) -> Path:
        return _path(f"{self.qms}/.audit/{doctypes.type_of(doc_id)}/{doc_id}.jsonl")

    def archive_path(self, doc_id: str, version: str) -> Path:
        return _path(f"{self.qms}/.archive/{doctypes.folder_of(doc_id)}/{doc_id}-v{version}.md")

    def archive_paths(self, doc_id: str, version: str) -> list[Path]:
        """Where an archived version may be: ours, then the earlier tool's flat place."""
        paths = [self.archive_path(doc_id, version)]
        if flat := doctypes.flat_archive_folder(doc_id):
            paths.append(self.qms / ".archive" / flat / f"{doc_id}-v{version}.md")
        return paths

    def evidence_path(self, sha256: str) -> Path:
        return self.qms / ".evidence" / f"{sha256}.xml"

    def seq_path(self, key: str) -> Path:
        return self.qms / ".meta" / ".seq" / key

    # -- user paths ------------------------------------------------------------
    def user_dir(self, user: str) -> Path:
        return self.users_dir / user

    def workspace_dir(self, user: str) -> Path:
        return self.users_dir / user / "workspace"

    def workspace_path(self, user: str, doc_id: str) -> Path:
        return self.workspace_dir(user) / f"{doc_id}.md"

    def inbox_dir(self, user: str) -> Path:
        return self.users_dir / user / "inbox"

    def agent_path(self, user: str) -> Path:
        return self.agents_dir / f"{user}.md"

    def rel(self, path: Path) -> str:
        """``path`` relative to the root (as given when it lies elsewhere; "." the root)."""
        return "." if str(path) == str(self.root) else atomic.rel(self.root, path)


@lru_cache(maxsize=8192)
def _path(text: str) -> Path:
    """``Path(text)``, kept: a path is immutable, and parsing one costs more than the read
    it is for."""
    return Path(text)
