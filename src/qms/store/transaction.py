"""Project lock + write-ahead journal: every mutating operation is all-or-nothing.

An operation stages its writes in a :class:`Transaction` while holding the project lock
(``fcntl.flock`` on ``.qms/lock``, so CLI processes, server threads and other processes
exclude one another). Before anything is written, every path of the change set is checked
(inside the project, through real folders, a regular file or absent). On commit the change
set is written as a frame into ``.qms/journal`` and ``fdatasync``ed: the commit point, the
one sync a commit waits for. Then the files are written without syncing each and the frame
is marked applied. The journal keeps the frames since its last checkpoint; past
``CHECKPOINT_BYTES`` one ``sync()`` makes all their files durable at once and the journal
starts over. A crash before the commit point changes nothing (a torn frame is ignored); a
crash after it is rolled forward by the next transaction; after a reboot every frame since
the last checkpoint is replayed in order (writes carry the whole text, appends the offset
they start from, so replaying is idempotent). If the operation raises, nothing staged is
written. See docs/architecture.md, "Storage safety".
"""

from __future__ import annotations

import _thread
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
COMMITTED: list[Any] = []  # hook(root, paths written relative to it), after every commit here


class Transaction:
    """Staged writes relative to the project root; reads see staged state first.

    Every path is checked with :func:`atomic.check` (inside the root, through real folders,
    a regular file or absent) before the journal is written, so a refused path stops the
    operation before anything is written; reads and the writes themselves open each folder
    from the root (``atomic``), so a folder swapped for a link after the check is refused,
    never followed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[Path, Any] = {}          # path -> str | _DELETED
        self._appends: dict[Path, list[str]] = {}  # path -> lines
        self.after_commit: list[Any] = []          # callables run after a commit
        self.before_commit: list[Any] = []         # callables that stage their last writes
        self._dirs: set[str] = set()               # folders already checked to be real
        self._in_place: set[Path] = set()          # writes that overwrite in place

    # -- reads -----------------------------------------------------------------
    def read_text(self, path: Path) -> str | None:
        staged = self._files.get(path)
        if staged is _DELETED:
            return None
        base = staged if staged is not None else atomic.read_text(path, self.root)
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

    def writes(self, path: Path) -> bool:
        """Whether this transaction has staged the whole text of ``path``."""
        return path in self._files

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

    def paths(self) -> list[str]:
        """Every path this transaction writes, relative to the root."""
        base = len(str(self.root)) + 1
        return [str(path)[base:] for path in {**self._files, **self._appends}]

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
            size, newline = atomic.tail(path, self.root)
            if not newline:
                text = "\n" + text  # a torn last line stays visible, never glued to this one
            ops.append({"op": "append", "path": rel, "offset": size, "text": text})
        return ops

    def commit(self, journal: Path) -> None:
        for callback in self.before_commit:  # e.g. sign the events with the state they made
            callback()
        for path, lines in self._appends.items():
            if path in self._files:
                staged = self._files[path]
                self._files[path] = ("" if staged is _DELETED else staged) + "".join(lines)
        ops = self._journal_ops()
        if not ops:
            return
        offset = write_journal(journal, ops)
        finish(self.root, ops, journal, offset)


def _checked(root: Path, path: Path, seen: set[str]) -> str:
    """``path`` relative to the root, after checking it and its temporary name."""
    atomic.check(root, path, seen=seen)
    atomic.check(root, atomic.tmp_path(path), seen=seen)
    return str(path)[len(str(root)) + 1:]


# The journal is a log of frames, one per commit: a status byte (P pending, A applied, C
# checkpointed), ``qms-journal 2 <size> <crc32> <boot id> <epoch>\n``, then the change set
# (JSON, ``size`` bytes).
_MAGIC = b"qms-journal 2 "
PENDING, APPLIED, CHECKPOINTED = b"P", b"A", b"C"
CHECKPOINT_BYTES = 64 * 1024  # past this, a commit syncs everything and starts over
_SHRINK_BYTES = 8 * CHECKPOINT_BYTES  # a journal grown past this (a huge frame) is cut
_PREALLOCATED = 2 * CHECKPOINT_BYTES
_datasync = getattr(os, "fdatasync", os.fsync)
_BOOT: list[bytes] = []


def boot_id() -> bytes:
    """This boot of the machine (Linux), or b"-". After a process crash the page cache
    still holds every applied frame's files, so only a pending frame is replayed; after a
    reboot every frame since the last checkpoint is. Without a boot id every commit is
    checkpointed (made durable) at once."""
    if not _BOOT:
        try:
            with open("/proc/sys/kernel/random/boot_id", "rb") as f:
                _BOOT.append(f.read().strip().replace(b"-", b"") or b"-")
        except OSError:
            _BOOT.append(b"-")
    return _BOOT[0]


class _Log:
    """The parsed journal: its bytes, its frames ``(offset, body start, body end, boot)``,
    where the next frame goes, and the epoch of the frames.

    Frames of one epoch follow one another from offset 0. A checkpoint marks the first frame
    ``C`` and the next frame starts the next epoch at offset 0 again, so the file's space is
    reused instead of freed (truncating or unlinking costs milliseconds on a busy ext4
    mounted with ``discard``); the older frames behind it never match the new epoch. A torn
    frame (no matching CRC-32) ends the log: it never reached its commit point."""

    def __init__(self, data: bytes) -> None:
        self.data, self.frames, self.end, self.epoch = data, [], 0, 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos, pos + 200)
            head = data[pos: nl if nl >= 0 else pos + 200]
            status, rest = head[:1], head[1:]
            if status not in (PENDING, APPLIED, CHECKPOINTED) or not rest.startswith(_MAGIC):
                if pos == 0 and status != b"\0" and \
                        not (PENDING + _MAGIC).startswith(data[:len(_MAGIC) + 1]):
                    raise ValueError("no journal header")
                break  # zeros: the written-out space after the last frame
            try:
                size, crc, boot, epoch = rest[len(_MAGIC):].split()
                size, crc, epoch = int(size), int(crc, 16), int(epoch)
            except ValueError:
                break
            if pos == 0:
                self.epoch = epoch
                if status == CHECKPOINTED:  # empty: the next frame opens the next epoch
                    self.epoch += 1
                    break
            end = nl + 1 + size
            if epoch != self.epoch or end > len(data) or \
                    binascii.crc32(data[nl + 1:end]) != crc:
                break
            self.frames.append((pos, nl + 1, end, boot))
            pos = self.end = end

    def pending(self) -> bool:
        return bool(self.frames) and self.data[self.frames[-1][0]:self.frames[-1][0] + 1] \
            == PENDING

    def replay(self) -> list[dict[str, Any]]:
        """The operations recovery must (re)apply, in order."""
        if self.frames and self.frames[0][3] != boot_id():  # rebooted since: all of them
            todo = self.frames
        else:
            todo = self.frames[-1:] if self.pending() else []
        return [op for f in todo for op in _parse(self.data[f[1]:f[2]].decode("utf-8"))]


def _log(journal: Path, root: Path | None = None) -> _Log:
    return _Log(atomic.read_bytes(journal, root) or b"")


def write_journal(journal: Path, ops: list[dict[str, Any]]) -> int:
    """The commit point: write the change set as a pending frame after the others and
    fsync the journal: one fsync per commit (the file is kept, so its name is synced only
    when it is new). Returns the frame's offset."""
    log = _log(journal)
    body = json.dumps({"ops": ops}, ensure_ascii=False).encode("utf-8")
    frame = PENDING + _MAGIC + b"%d %08x %s %d\n" % (
        len(body), binascii.crc32(body), boot_id(), log.epoch) + body
    new = not os.path.lexists(journal)
    fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ProjectError(f"{journal} is not a regular file; remove it.")
        if new:  # written out once, so that a commit only overwrites allocated blocks
            atomic._write_all(fd, bytes(_PREALLOCATED))
            os.fsync(fd)
            atomic.fsync_dir(journal.parent)
        view, offset = memoryview(frame), log.end
        while view:
            written = os.pwrite(fd, view, offset)
            offset, view = offset + written, view[written:]
        _datasync(fd)  # no metadata to commit while the frame fits the written-out size
    finally:
        os.close(fd)
    return log.end


def read_journal(journal: Path, root: Path | None = None) -> list[dict[str, Any]] | None:
    """The pending change set (the last frame, not yet applied), or None. Raises
    ValueError/TypeError when the journal is damaged."""
    log = _log(journal, root)
    if not log.pending():
        return None
    return _parse(log.data[log.frames[-1][1]:log.frames[-1][2]].decode("utf-8"))


def pending(journal: Path) -> bool:
    """Whether recovery has work: a pending frame, frames of an earlier boot, a damaged
    journal, or the journal of an earlier qms version."""
    if os.path.lexists(_legacy(journal)):
        return True
    try:
        info = os.lstat(journal)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return True
    if not info.st_size:
        return False
    try:
        log = _log(journal)
    except ValueError:
        return True
    return log.pending() or (bool(log.frames) and log.frames[0][3] != boot_id())


def _mark_applied(journal: Path, offset: int, paths: list[Path]) -> None:
    """Every file of the frame (``paths``) is written, unsynced: mark it applied; past the
    checkpoint size, make everything durable in one batch."""
    fd = os.open(journal, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        os.pwrite(fd, APPLIED, offset)
        if offset > CHECKPOINT_BYTES or boot_id() == b"-":
            _checkpoint(fd, paths)
    finally:
        os.close(fd)


def _checkpoint(fd: int, paths: list[Path]) -> None:
    """One sync makes every applied frame's files durable; then the log starts over.
    (``paths``: the files to fsync one by one where one ``sync()`` is no guarantee, i.e. not
    on Linux; there every commit is checkpointed, see :func:`boot_id`.)"""
    atomic.sync(paths)
    os.pwrite(fd, CHECKPOINTED, 0)
    if os.fstat(fd).st_size > _SHRINK_BYTES:  # rare: do not keep re-reading a huge file
        os.ftruncate(fd, _PREALLOCATED)


def finish(root: Path, ops: list[dict[str, Any]], journal: Path, offset: int) -> None:
    """Apply a journaled change set (files unsynced) and mark its frame applied. Its files
    become durable in one batch at the next checkpoint; until then the journal keeps the
    frame. A crash anywhere in here is rolled forward from the journal."""
    apply_ops(root, ops)
    _mark_applied(journal, offset, [root / op["path"] for op in ops])


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
    if op["op"] == "write":  # every folder opened from the root, no link followed
        write = atomic.overwrite if op.get("in_place") else atomic.write_bytes
        write(path, op["text"].encode("utf-8"), root)
    elif op["op"] == "delete":
        atomic.unlink(path, root)
    elif op["op"] == "append":
        atomic.append_at(path, op["offset"], op["text"].encode("utf-8"), root)
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
    damaged journal) never wedge the project: the rest is applied, the problem is reported,
    and the journal is set aside as ``{journal}.failed-<time>`` for inspection."""
    if not pending(journal):
        return False
    if os.path.lexists(_legacy(journal)):
        _recover_legacy(root, _legacy(journal))
    if os.path.lexists(journal) and not stat.S_ISREG(os.lstat(journal).st_mode):
        set_aside(journal, "it is not a regular file")
        return True
    try:
        ops = _log(journal, root).replay()
    except (QMSError, ValueError, KeyError, TypeError) as exc:
        atomic.sync([])  # what earlier frames wrote (Linux; elsewhere it was synced already)
        set_aside(journal, f"it is unreadable ({exc})")
        return True
    if not _roll_forward(root, ops, journal):
        return True
    try:
        fd = os.open(journal, os.O_WRONLY | os.O_NOFOLLOW)
    except FileNotFoundError:  # only an earlier version's journal was there
        return True
    try:
        _checkpoint(fd, [root / op["path"] for op in ops])
    finally:
        os.close(fd)
    return True


def _legacy(journal: Path) -> Path:
    return journal.with_name("journal.json")


def _recover_legacy(root: Path, legacy: Path) -> None:
    """Complete a commit interrupted under an earlier qms version (``.qms/journal.json``,
    one change set ``{"ops": [...]}``), then remove it."""
    try:
        ops = _parse(atomic.read_text(legacy, root) or "")
    except (QMSError, ValueError, KeyError, TypeError) as exc:
        set_aside(legacy, f"it is unreadable ({exc})")
        return
    if _roll_forward(root, ops, legacy):
        atomic.sync([root / op["path"] for op in ops])
        os.unlink(legacy)


def _roll_forward(root: Path, ops: list[dict[str, Any]], journal: Path) -> bool:
    """Apply ``ops`` as far as possible (their temporary files first removed). False if
    some could not be: then the rest is synced and the journal set aside."""
    for op in ops:
        with suppress(OSError, ValueError, QMSError):
            atomic.unlink(atomic.tmp_path(root / op["path"]), root)
    problems = []
    for op in ops:
        try:
            apply_op(root, op)
        except (QMSError, OSError) as exc:
            problems.append(f"{op['path']}: {exc}")
    if problems:
        atomic.sync([root / op["path"] for op in ops])
        set_aside(journal, "some of its operations cannot be applied: " + "; ".join(problems))
    return not problems


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


_LOCKS: dict[str, Any] = {}  # lock file -> the lock this process's threads queue on


@contextmanager
def project_lock(lock_path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """The project lock: ``flock`` on ``lock_path``, which excludes other processes. The
    threads of one process (the server's) first queue on an in-process lock, so the one
    that releases hands over at once instead of every waiter polling the file lock."""
    deadline = time.monotonic() + timeout
    local = _LOCKS.get(str(lock_path)) or _LOCKS.setdefault(str(lock_path),
                                                            _thread.allocate_lock())
    if not local.acquire(timeout=timeout):
        raise _busy(timeout)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        try:
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        raise _busy(timeout) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.02)
            yield
        finally:
            os.close(fd)  # closing releases the flock
    finally:
        local.release()


def _busy(timeout: float) -> Conflict:
    return Conflict("The project is busy (another qms operation holds the lock for more "
                    f"than {timeout:.0f} s). Try again.")
