"""Project lock + write-ahead journal: every mutating operation is all-or-nothing.

An operation stages its writes in a :class:`Transaction` while holding the project lock
(``fcntl.flock`` on ``.qms/lock``, so CLI processes, server threads and other processes
exclude one another). On commit the whole change set is first written atomically to
``.qms/journal.json`` and then applied file by file; the journal is removed last. A crash
before the journal exists changes nothing; a crash after it is rolled forward by the next
process that opens the project. Appends record the file size they start from, so replaying
one is idempotent. If the operation raises, nothing staged is written.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from qms.errors import Conflict, ProjectError
from qms.store import atomic

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Iterator

LOCK_TIMEOUT_S = 60.0
_DELETED = object()


class Transaction:
    """Staged writes relative to the project root; reads see staged state first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[Path, Any] = {}          # path -> str | _DELETED
        self._appends: dict[Path, list[str]] = {}  # path -> lines
        self.after_commit: list[Any] = []          # callables run after a commit

    # -- reads -----------------------------------------------------------------
    def read_text(self, path: Path) -> str | None:
        staged = self._files.get(path)
        if staged is _DELETED:
            return None
        base = staged if staged is not None else atomic.read_text(path)
        extra = self._appends.get(path)
        if extra:
            base = (base or "") + "".join(extra)
        return base

    def exists(self, path: Path) -> bool:
        staged = self._files.get(path)
        if staged is _DELETED:
            return bool(self._appends.get(path))
        return staged is not None or bool(self._appends.get(path)) or path.exists()

    # -- writes ----------------------------------------------------------------
    def write_text(self, path: Path, text: str) -> None:
        self._files[path] = text
        self._appends.pop(path, None)

    def write_json(self, path: Path, obj: Any) -> None:
        self.write_text(path, json.dumps(obj, indent=2, ensure_ascii=False))

    def delete(self, path: Path) -> None:
        self._files[path] = _DELETED
        self._appends.pop(path, None)

    def append_line(self, path: Path, line: str) -> None:
        self._appends.setdefault(path, []).append(line.rstrip("\n") + "\n")

    @property
    def empty(self) -> bool:
        return not self._files and not self._appends

    # -- commit ----------------------------------------------------------------
    def _journal_ops(self) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = []
        for path, value in self._files.items():
            rel = str(path.relative_to(self.root))
            if value is _DELETED:
                ops.append({"op": "delete", "path": rel})
            else:
                ops.append({"op": "write", "path": rel, "text": value})
        for path, lines in self._appends.items():
            rel = str(path.relative_to(self.root))
            size = path.stat().st_size if path.exists() else 0
            if path in self._files:  # rewritten then appended: fold into the write
                continue
            ops.append({"op": "append", "path": rel, "offset": size, "text": "".join(lines)})
        return ops

    def commit(self, journal: Path) -> None:
        for path, lines in self._appends.items():
            if path in self._files:
                staged = self._files[path]
                self._files[path] = ("" if staged is _DELETED else staged) + "".join(lines)
        ops = self._journal_ops()
        if not ops:
            return
        atomic.write_bytes(journal, json.dumps({"ops": ops}, ensure_ascii=False).encode())
        atomic.fsync_dir(journal.parent)
        finish(self.root, ops, journal)


def finish(root: Path, ops: list[dict[str, Any]], journal: Path) -> None:
    """Apply a journaled change set, make it durable, then drop the journal."""
    apply_ops(root, ops)
    for folder in {(root / op["path"]).parent for op in ops}:
        atomic.fsync_dir(folder)
    journal.unlink()
    atomic.fsync_dir(journal.parent)


def apply_ops(root: Path, ops: list[dict[str, Any]]) -> None:
    for op in ops:
        path = (root / op["path"]).resolve()
        if root.resolve() not in path.parents:
            raise ProjectError(f"Journal names a path outside the project: {op['path']}")
        if op["op"] == "write":
            atomic.write_bytes(path, op["text"].encode("utf-8"))
        elif op["op"] == "delete":
            path.unlink(missing_ok=True)
        elif op["op"] == "append":
            atomic.append_at(path, op["offset"], op["text"].encode("utf-8"))


def recover(root: Path, journal: Path) -> bool:
    """Roll forward an interrupted commit (caller holds the lock). True if one was found."""
    text = atomic.read_text(journal)
    if text is None:
        return False
    try:
        ops = json.loads(text)["ops"]
    except (ValueError, KeyError, TypeError):
        # the journal itself was never completed (atomic write), so this cannot happen;
        # refuse rather than guess
        raise ProjectError(f"Unreadable journal {journal}; inspect it before continuing.")
    finish(root, ops, journal)
    return True


@contextmanager
def project_lock(lock_path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise Conflict("The project is busy (another qms operation holds the "
                                   f"lock for more than {timeout:.0f} s). Try again.")
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
        yield
    finally:
        os.close(fd)  # closing releases the flock
