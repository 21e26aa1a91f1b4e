"""Project lock + write-ahead journal: every mutating operation is all-or-nothing.

An operation stages its writes in a :class:`Transaction` while holding the project lock
(``fcntl.flock`` on ``.qms/lock``, so CLI processes, server threads and other processes
exclude one another). Before anything is written,
every path of the change set is checked (inside the project, through real folders, a regular
file or absent). On commit the whole change set is written to ``.qms/journal.json`` and made
durable (the commit point: one fsync of the journal, one of its folder); then the files are
written without syncing each, made durable in one batch (:func:`atomic.sync`), and the journal
is removed. A crash before the journal exists changes nothing; a crash after it is rolled
forward by the next transaction. Appends record the file size they start from, so replaying
one is idempotent. If the operation raises, nothing staged is written.
"""

from __future__ import annotations

import binascii
import errno
import fcntl
import json
import os
import stat
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from qms.errors import Conflict, ProjectError, QMSError
from qms.store import atomic

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Iterator

LOCK_TIMEOUT_S = 60.0
_DELETED = object()


class Transaction:
    """Staged writes relative to the project root; reads see staged state first.

    Every path is checked with :func:`atomic.check` (inside the root, through real folders,
    a regular file or absent) when it is read and again before the journal is written, so a
    refused path stops the operation before anything is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[Path, Any] = {}          # path -> str | _DELETED
        self._appends: dict[Path, list[str]] = {}  # path -> lines
        self.after_commit: list[Any] = []          # callables run after a commit
        self._dirs: set[str] = set()               # folders already checked to be real
        self._in_place: set[Path] = set()          # writes that overwrite in place

    # -- reads -----------------------------------------------------------------
    def read_text(self, path: Path) -> str | None:
        staged = self._files.get(path)
        if staged is _DELETED:
            return None
        base = staged if staged is not None else atomic.read_text(path, self.root, self._dirs)
        extra = self._appends.get(path)
        if extra:
            base = (base or "") + "".join(extra)
        return base

    def exists(self, path: Path) -> bool:
        staged = self._files.get(path)
        if staged is _DELETED:
            return bool(self._appends.get(path))
        return staged is not None or bool(self._appends.get(path)) or \
            atomic.check(self.root, path, seen=self._dirs)

    # -- writes ----------------------------------------------------------------
    def write_text(self, path: Path, text: str, in_place: bool = False) -> None:
        """Stage ``text`` as the whole file. ``in_place``: overwrite the existing file rather
        than replace it (cheaper; only for files no lock-free reader reads, e.g. counters)."""
        self._files[path] = text
        self._appends.pop(path, None)
        if in_place:
            self._in_place.add(path)
        else:
            self._in_place.discard(path)

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
        """The change set, every path checked (refusals raise before anything is written)."""
        ops: list[dict[str, Any]] = []
        for path, value in self._files.items():
            rel = _checked(self.root, path, self._dirs)
            if value is _DELETED:
                ops.append({"op": "delete", "path": rel})
            elif path in self._in_place:
                ops.append({"op": "write", "path": rel, "text": value, "in_place": True})
            else:
                ops.append({"op": "write", "path": rel, "text": value})
        for path, lines in self._appends.items():
            if path in self._files:  # rewritten then appended: folded into the write
                continue
            rel = _checked(self.root, path, self._dirs)
            text = "".join(lines)
            try:
                size = os.lstat(path).st_size
            except FileNotFoundError:
                size = 0
            if size and not atomic.ends_with_newline(path):
                text = "\n" + text  # a torn last line stays visible, never glued to this one
            ops.append({"op": "append", "path": rel, "offset": size, "text": text})
        return ops

    def commit(self, journal: Path) -> None:
        for path, lines in self._appends.items():
            if path in self._files:
                staged = self._files[path]
                self._files[path] = ("" if staged is _DELETED else staged) + "".join(lines)
        ops = self._journal_ops()
        if not ops:
            return
        write_journal(journal, ops)
        finish(self.root, ops, journal)


def _checked(root: Path, path: Path, seen: set[str]) -> str:
    """``path`` relative to the root, after checking it and its temporary name."""
    atomic.check(root, path, seen=seen)
    atomic.check(root, atomic.tmp_path(path), seen=seen)
    return str(path)[len(str(root)) + 1:]


_MAGIC = b"qms-journal 1 "
_RETIRED = b"-"  # replaces the first byte of a journal whose change set is durable


def write_journal(journal: Path, ops: list[dict[str, Any]]) -> None:
    """The commit point: the change set, durable.

    The journal file is kept between commits and overwritten in place (no new file, no
    truncation, which on ext4 would force a flush of its old data), so committing costs one
    write and one fsync. A header with the length and CRC-32 of the change set tells a
    complete journal from a torn one (a crash before the commit point: never applied) and
    from the old bytes that may follow it."""
    body = json.dumps({"ops": ops}, ensure_ascii=False).encode("utf-8")
    data = _MAGIC + b"%d %08x\n" % (len(body), binascii.crc32(body)) + body
    new = not os.path.lexists(journal)
    fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ProjectError(f"{journal} is not a regular file; remove it.")
        atomic._write_all(fd, data)  # at offset 0: the file was just opened
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:  # its name, once
        atomic.fsync_dir(journal.parent)


def read_journal(journal: Path, root: Path | None = None) -> list[dict[str, Any]] | None:
    """The pending change set; None if there is none (absent, retired, or torn: a commit
    that never reached its commit point). Raises ValueError/TypeError when damaged."""
    data = atomic.read_bytes(journal, root)
    if not data or data.startswith(_RETIRED):
        return None
    if not data.startswith(_MAGIC[:len(data)]):
        raise ValueError("no journal header")
    head, sep, rest = data.partition(b"\n")
    try:
        size, crc = (int(x, 16 if n else 10) for n, x in enumerate(head[len(_MAGIC):].split()))
    except ValueError:
        return None  # torn inside the header
    body = rest[:size]
    if not sep or len(body) < size or binascii.crc32(body) != crc:
        return None  # torn: the commit point was never reached, nothing was applied
    return _parse(body.decode("utf-8"))


def pending(journal: Path) -> bool:
    """Whether a commit may be pending (a journal not retired, or something odd in its
    place)."""
    try:
        info = os.lstat(journal)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return True
    if not info.st_size:
        return False
    fd = os.open(journal, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        return os.pread(fd, 1, 0) != _RETIRED
    finally:
        os.close(fd)


def retire(journal: Path) -> None:
    """Mark the journal done once its change set is durable (one byte, not synced:
    replaying a completed change set after a power failure rewrites the same bytes)."""
    fd = os.open(journal, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.pwrite(fd, _RETIRED, 0)
    finally:
        os.close(fd)


def finish(root: Path, ops: list[dict[str, Any]], journal: Path) -> None:
    """Apply a journaled change set (unsynced), make it durable in one batch, retire the
    journal. A crash anywhere in here is rolled forward from the journal."""
    apply_ops(root, ops)
    atomic.sync([root / op["path"] for op in ops])
    retire(journal)


def apply_ops(root: Path, ops: list[dict[str, Any]]) -> None:
    for op in ops:
        apply_op(root, op)


def apply_op(root: Path, op: dict[str, Any]) -> None:
    """Apply one journal operation (idempotent); refuse a path that is not a plain file
    inside the project through real folders."""
    path = root / op["path"]
    if Path(op["path"]).is_absolute():
        raise ProjectError(f"Journal names a path outside the project: {op['path']}")
    try:
        atomic.check(root, path)
    except ProjectError as exc:
        raise ProjectError(f"Journal names a path it cannot apply: {exc.message}") from None
    if op["op"] == "write":
        write = atomic.overwrite if op.get("in_place") else atomic.write_bytes
        write(path, op["text"].encode("utf-8"))
    elif op["op"] == "delete":
        with suppress(FileNotFoundError):
            os.unlink(path)
    elif op["op"] == "append":
        atomic.append_at(path, op["offset"], op["text"].encode("utf-8"))
    else:
        raise ProjectError(f"Journal has an unknown operation {op['op']!r}.")


def _parse(text: str) -> list[dict[str, Any]]:
    ops = json.loads(text)["ops"]
    if not isinstance(ops, list):
        raise TypeError("ops is not a list")
    for op in ops:
        if not (isinstance(op, dict) and isinstance(op.get("path"), str)
                and op.get("op") in ("write", "delete", "append")
                and (op["op"] == "delete" or isinstance(op.get("text"), str))
                and (op["op"] != "append" or (isinstance(op.get("offset"), int)
                                              and op["offset"] >= 0))):
            raise TypeError(f"bad operation {str(op)[:80]}")
    return ops


def recover(root: Path, journal: Path) -> bool:
    """Roll forward an interrupted commit (caller holds the lock). True if one was found.

    Operations that cannot be applied (a path outside the project or through a link, a
    damaged journal) never wedge the project: the rest is applied, the problem is logged,
    and the journal is set aside as ``{journal}.failed-<time>`` for inspection."""
    if not pending(journal):
        return False
    try:
        ops = read_journal(journal, root)
    except (QMSError, ValueError, KeyError, TypeError) as exc:
        set_aside(journal, f"it is unreadable ({exc})")
        return True
    if ops is None:  # torn before its commit point: nothing of it was applied
        retire(journal)
        return False
    for op in ops:  # temporary files of the interrupted commit
        with suppress(OSError, ValueError):
            os.unlink(atomic.tmp_path(root / op["path"]))
    problems = []
    for op in ops:
        try:
            apply_op(root, op)
        except (QMSError, OSError) as exc:
            problems.append(f"{op['path']}: {exc}")
    atomic.sync([root / op["path"] for op in ops])
    if problems:
        set_aside(journal, "some of its operations cannot be applied: " + "; ".join(problems))
    else:
        retire(journal)
    return True


def set_aside(journal: Path, why: str) -> Path:
    """Rename a journal recovery cannot complete, and say so on stderr (the CLI's error
    stream, the server's log)."""
    import sys

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    kept = journal.with_name(f"{journal.name}.failed-{stamp}-{os.getpid()}")
    os.replace(journal, kept)
    print(f"Warning: an interrupted commit could not be completed: {why}. Its journal was "
          f"kept as {kept} for inspection; the project stays usable.", file=sys.stderr)
    return kept


@contextmanager
def project_lock(lock_path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
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
