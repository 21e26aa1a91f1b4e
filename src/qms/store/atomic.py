"""File primitives that never follow links: checked paths, no-follow reads, crash-safe writes.

Every file the store touches lies under a project root (already resolved, so the root
itself contains no links). :func:`check` refuses a path that leaves the root, whose folders
below the root are not real folders (a symbolic link, a file), or whose last component
exists but is not a regular file. Given the root, every read, write, temporary file,
rename, folder creation, append and unlink resolves its path from the root one folder at
a time (``openat`` with ``O_DIRECTORY | O_NOFOLLOW``, then ``*at`` calls on the folder's
descriptor), so a folder swapped for a link between a check and the use is refused or
was already opened as the real folder: it can never redirect the operation. Files open
with ``O_NOFOLLOW | O_NONBLOCK`` and are checked with ``fstat`` (a FIFO never blocks, a
link is never followed). Writes go to a hidden temporary file beside the target
(``.{name}.qms-tmp``, a name no reader or glob of ``*.md`` / ``*.json`` / ``*.jsonl``
takes for a document) in the same opened folder and are renamed over it; making them
durable is the caller's business (the transaction syncs once per commit).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from _thread import _local
from contextlib import contextmanager, suppress
from pathlib import Path

from qms.errors import ProjectError, ValidationError

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator

TMP_SUFFIX = ".qms-tmp"
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_APPEND_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_SUBDIR_FLAGS = _DIR_FLAGS | os.O_NOFOLLOW


def tmp_path(path: Path) -> Path:
    """The one temporary name a transaction uses for ``path`` (hidden, never a document)."""
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def rel(root: Path | None, path: Path | str) -> str:
    """``path`` relative to ``root`` when it lies below it, else as given (string slicing:
    ``Path.relative_to`` costs more than the reads it names)."""
    text = str(path)
    if root is not None:
        base = str(root)
        prefix = base if base.endswith(os.sep) else base + os.sep
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _refuse(root: Path | None, path: Path, what: str) -> ProjectError:
    shown = rel(root, path)
    return ProjectError(f"Refused: {shown} {what}; qms never follows links or reads special "
                        f"files in a project. Remove or replace it and try again.", path=shown)


def check(root: Path, path: Path, *, final: bool = True, seen: set[str] | None = None) -> bool:
    """Refuse ``path`` unless it lies under ``root`` through real folders and (``final``) is
    absent or a regular file. Returns whether the file exists. Folders in ``seen`` are
    taken as checked; folders found real are added to it."""
    text, base = str(path), str(root)
    parts = _parts(root, path)
    current = base
    for part in parts[:-1]:
        current += os.sep + part
        if seen is not None and current in seen:
            continue
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            raise _refuse(root, Path(current), "is not a folder") from None
        if not stat.S_ISDIR(mode):
            what = "is a symbolic link" if stat.S_ISLNK(mode) else "is not a folder"
            raise _refuse(root, Path(current), what)
        if seen is not None:
            seen.add(current)
    if not final:
        return True
    try:
        info = os.lstat(text)
    except FileNotFoundError:
        return False
    _regular(root, path, info)
    return True


def _regular(root: Path | None, path: Path, info: os.stat_result) -> None:
    """Refuse anything but a regular file with one name (a hard link planted in a workspace
    would let a write to it change another file)."""
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(root, path, _kind(info.st_mode))
    if info.st_nlink > 1:
        raise _refuse(root, path, f"has {info.st_nlink - 1} other hard link(s)")


def check_dir(root: Path, folder: Path, seen: set[str] | None = None) -> bool:
    """Refuse ``folder`` unless it and its parents below ``root`` are real folders; returns
    whether it exists."""
    return check(root, folder / "_", final=False, seen=seen)


def _folder(root: Path | None, path: Path, make: bool = False) -> int | None:
    """A descriptor of the folder holding ``path`` (the caller closes it), or None when a
    folder is missing (``make``: missing folders are created).

    With ``root``, every folder below the root is opened from the one above it with
    ``O_DIRECTORY | O_NOFOLLOW``: a link or a file where a folder belongs is refused, and a
    folder swapped for a link after it was opened is still the real folder. Without a root
    (files no project owns) the folder is opened as named."""
    if root is None:
        try:
            return os.open(path.parent, _DIR_FLAGS)
        except FileNotFoundError:
            if not make:
                return None
            _mkdirs(path.parent)
            return os.open(path.parent, _DIR_FLAGS)
    parts = _parts(root, path)
    kept = getattr(_KEPT, "folders", None)
    if kept is not None and kept.root == root:  # inside a transaction (see kept_folders)
        fd = kept.folder(os.sep.join(parts[:-1]), make)
        return None if fd is None else os.dup(fd)
    fd = os.open(str(root), _DIR_FLAGS)
    try:
        for depth in range(len(parts) - 1):
            child = _step(root, parts, depth, fd, make)
            os.close(fd)
            if child is None:
                return None
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _parts(root: Path, path: Path) -> list[str]:
    text, base = str(path), str(root)
    if not text.startswith(base + os.sep):
        raise ProjectError(f"Refused: {text} is outside the project {base}.", path=text)
    parts = text[len(base) + 1:].split(os.sep)
    if "" in parts or "." in parts or ".." in parts:
        raise ProjectError(f"Refused: {rel(root, path)} is not a plain path inside the "
                           "project.", path=rel(root, path))
    return parts


def _step(root: Path, parts: list[str], depth: int, fd: int, make: bool) -> int | None:
    """:func:`_subdir`, or None when that folder is missing (``make``: it is created)."""
    try:
        return _subdir(root, parts, depth, fd)
    except FileNotFoundError:
        if not make:
            return None
        with suppress(FileExistsError):
            os.mkdir(parts[depth], dir_fd=fd)
        return _subdir(root, parts, depth, fd)


def _subdir(root: Path, parts: list[str], depth: int, fd: int) -> int:
    """Open folder ``parts[depth]`` inside the folder ``fd``, refusing a link or a file."""
    part = parts[depth]
    try:
        return os.open(part, _SUBDIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        try:
            mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
    raise _refuse(root, Path(root, *parts[:depth + 1]),
                  "is a symbolic link" if stat.S_ISLNK(mode) else "is not a folder")


def _open(root: Path | None, path: Path, flags: int, mode: int = 0o644,
          make: bool = False) -> int:
    """``os.open`` of ``path`` inside its folder opened by :func:`_folder`
    (FileNotFoundError when a folder is missing and not ``make``)."""
    folder = _folder(root, path, make)
    if folder is None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
    try:
        return os.open(path.name, flags, mode, dir_fd=folder)
    finally:
        os.close(folder)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISDIR(mode):
        return "is a directory, not a regular file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    return "is not a regular file"


_BENEATH = None  # the openat2 opener, once resolve_in_kernel() turned it on


def resolve_in_kernel() -> bool:
    """From now on in this process, :func:`open_regular` resolves a path below the root in
    one ``openat2`` call the kernel refuses if any component is a link
    (:mod:`qms.store.beneath`), instead of opening the folders one by one; anything but
    success or "missing" still goes through the walk, which names what is wrong. For
    long-running processes (the server): it loads ``ctypes``. Returns whether this system
    can (else nothing changes)."""
    global _BENEATH
    from qms.store import beneath

    _BENEATH = beneath.opener(_READ_FLAGS)
    return _BENEATH is not None


def open_regular(path: Path | str, root: Path | None = None) -> tuple[int, os.stat_result] | None:
    """``(fd, fstat)`` of a regular file with one name, opened without following a link at
    its last component (with ``root``: nor at any folder below the root, see
    :func:`_folder`) and without blocking (a FIFO is refused, never waited on); None when
    it does not exist. The caller closes ``fd``."""
    if not isinstance(path, Path):
        path = Path(path)
    if root is not None and _BENEATH is not None:
        kept = getattr(_KEPT, "folders", None)
        if kept is None or kept.root != root:
            opened = _open_beneath(root, path)
            if opened is not False:
                return opened
    folder = _folder(root, path) if root is not None else None
    if root is not None and folder is None:
        return None
    try:
        return _open_file(folder, path.name if folder is not None else str(path), root, path)
    finally:
        if folder is not None:
            os.close(folder)


def _open_beneath(root: Path, path: Path) -> tuple[int, os.stat_result] | None | bool:
    """:func:`open_regular` in one ``openat2``; False: the kernel refused for another reason
    than a missing file or folder (a link, a file where a folder belongs), and the walk is
    to say precisely what (or read the file, if it was put right meanwhile)."""
    parts = _parts(root, path)
    top = os.open(str(root), _DIR_FLAGS)
    try:
        fd = _BENEATH(top, "/".join(parts))
    finally:
        os.close(top)
    if fd < 0:
        return None if fd == -errno.ENOENT else False
    return _checked(fd, root, path)


def _open_file(folder: int | None, name: str, root: Path | None,
               path: Path | str) -> tuple[int, os.stat_result] | None:
    """Open ``name`` in the folder descriptor ``folder`` (None: ``name`` is a whole path)
    for reading, no link followed, never blocking; refuse anything but a regular file with
    one name (``path``: what a refusal names)."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symbolic link
            raise _refuse(root, Path(path), "is a symbolic link") from None
        if isinstance(exc, (IsADirectoryError, NotADirectoryError)):
            raise _refuse(root, Path(path), "is not a regular file") from None
        raise
    return _checked(fd, root, path)


def _checked(fd: int, root: Path | None, path: Path | str) -> tuple[int, os.stat_result]:
    """``(fd, fstat)`` of an opened file that is regular with one name; else it is closed
    and refused (:func:`_regular`)."""
    try:
        info = os.fstat(fd)
        _regular(root, path, info)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_bytes(path: Path, root: Path | None = None,
               seen: set[str] | None = None) -> bytes | None:
    """File contents, or None when it does not exist. Links and special files are refused
    (with ``root``: also links among the folders below the root, which are opened one by
    one, so none is ever followed). ``seen`` is no longer needed (opened folders need no
    separate check); it is accepted for existing callers."""
    return _read_opened(open_regular(path, root))


def _read_opened(opened: tuple[int, os.stat_result] | None) -> bytes | None:
    """Read a file opened by :func:`_open_file` to its end and close it."""
    if opened is None:
        return None
    fd, info = opened
    try:
        return read_all(fd, info)
    finally:
        os.close(fd)


def read_all(fd: int, info: os.stat_result) -> bytes:
    """The rest of an opened file (``info``: its ``fstat``), to its end even if it grew."""
    chunks = [os.read(fd, info.st_size + 1)]  # the whole file, normally
    if len(chunks[0]) == info.st_size:
        return chunks[0]  # the size it had, and not one byte more: its end
    want = 1  # then the end of the file, or more if it grew
    while chunks[-1]:
        chunks.append(os.read(fd, want))
        want = 65536
    return b"".join(chunks)


RACY_NS = 100_000_000  # a file changed this recently is not kept (see cached)
CACHED_MAX = 4096  # files one cache keeps (then it starts again)


def cached(path: Path, root: Path | None, cache: dict, reader: Callable[..., Any]) -> Any:
    """``reader(fd, fstat)`` of the file ``path`` opened as :func:`open_regular` opens it
    (None: no such file), kept in ``cache`` by the file's identity: device, inode, size,
    mtime and ctime. The file is opened and ``fstat``-ed every time (a link or a special
    file is refused as always, a change is always seen), but read and parsed again only
    when it changed: what a long-running server asks of the same few files per call. Not
    kept while the file changed in the last :data:`RACY_NS` (a second write within one tick
    of the file system's clock would leave the same identity); the ctime cannot be set
    back, so an edit whose mtime was put back is seen too. The value is shared: a caller
    that changes it copies it first."""
    opened = open_regular(path, root)
    if opened is None:
        return None
    fd, info = opened
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    name = str(path)
    hit = cache.get(name)
    if hit is not None and hit[0] == key:
        os.close(fd)
        return hit[1]
    try:
        value = reader(fd, info)
    finally:
        os.close(fd)
    if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) > RACY_NS:
        if len(cache) >= CACHED_MAX:
            cache.clear()
        cache[name] = (key, value)
    return value


class Folders:
    """Reads many files under ``root`` exactly as :func:`read_bytes` does (every folder
    below the root opened from the one above with ``O_DIRECTORY | O_NOFOLLOW``, the file
    with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat``), but keeps the last
    ``keep`` folders it opened, so reading a thousand files in one folder opens that
    folder once (``qms verify``). A kept folder is the one that was reached from the root
    through real folders when it was opened: swapping it for a link later changes nothing,
    as with :func:`read_bytes`. For one pass over a project: close it when done."""

    def __init__(self, root: Path, keep: int = 64) -> None:
        self.root, self._base, self._keep = root, str(root), keep
        self._fds: dict[str, int] = {}  # folder below the root ("" the root) -> fd, oldest first
        self._plain: set[str] = set()  # folders (below the root) already found plain

    def read(self, path: str) -> bytes | None:
        """The bytes of ``path`` (a string under the root), or None when it does not exist."""
        if not path.startswith(self._base + os.sep):
            _parts(self.root, Path(path))  # raises: outside the project
        rel = path[len(self._base) + 1:]
        folder, _, name = rel.rpartition(os.sep)
        if not name or name in (".", "..") or (
                folder and folder not in self._plain and not _plain(folder)):
            _parts(self.root, Path(path))  # raises: not a plain path
        self._plain.add(folder)
        fd = self.folder(folder)
        return None if fd is None else _read_opened(_open_file(fd, name, self.root, path))

    def folder(self, rel: str, make: bool = False) -> int | None:
        """The descriptor of the folder ``rel`` (below the root; "" the root), kept here
        (the caller must not close it); None when it is missing and not ``make``."""
        fd = self._fds.pop(rel, None)
        if fd is None:
            if rel:
                above = self.folder(rel.rpartition(os.sep)[0], make)
                if above is None:
                    return None
                parts = rel.split(os.sep)  # a link or a file in a folder's place is refused
                fd = _step(self.root, parts, len(parts) - 1, above, make)
                if fd is None:
                    return None
            else:
                fd = os.open(self._base, _DIR_FLAGS)
            while len(self._fds) >= self._keep:
                os.close(self._fds.pop(next(iter(self._fds))))
        self._fds[rel] = fd  # the most recently used last
        return fd

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])


_KEPT = _local()  # this thread's kept folders, while it runs a transaction


@contextmanager
def kept_folders(root: Path) -> Iterator[None]:
    """Within this block, this thread opens each folder below ``root`` once (then it is
    kept, as :class:`Folders` keeps them): for a transaction, which reads and writes a
    dozen files in a few folders under the project lock. Nested blocks share the first."""
    if getattr(_KEPT, "folders", None) is not None:
        yield
        return
    _KEPT.folders = Folders(root)
    try:
        yield
    finally:
        _KEPT.folders.close()
        _KEPT.folders = None


def _plain(rel: str) -> bool:
    return all(p not in ("", ".", "..") for p in rel.split(os.sep))


def read_text(path: Path, root: Path | None = None,
              seen: set[str] | None = None) -> str | None:
    """File contents as UTF-8 text, or None when the file does not exist."""
    return decode(read_bytes(path, root), root, path)


def decode(data: bytes | None, root: Path | None, path: Path) -> str | None:
    """A file's bytes (None: absent) as UTF-8 text; a clear error naming it otherwise."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{rel(root, path)} is not valid UTF-8 text (byte {exc.start}).") \
            from None


def _mkdirs(folder: Path) -> None:
    try:
        os.mkdir(folder)
    except FileNotFoundError:
        _mkdirs(folder.parent)
        os.mkdir(folder)
    except FileExistsError:
        pass


def write_bytes(path: Path, data: bytes, root: Path | None = None) -> None:
    """Write ``path``, not synced (see :func:`sync`); the caller holds the project lock.

    A new file is created in place (it is journaled: a crash half-way is redone by recovery).
    An existing one is replaced atomically, so lock-free readers see the old or the new
    text: the data goes to ``.{name}.qms-tmp`` (one fixed name) and is renamed over it.
    With ``root`` the folder is resolved from the root without following links
    (:func:`_folder`), and missing folders are created there."""
    folder = _folder(root, path, make=True)
    try:
        try:
            fd = os.open(path.name, _NEW_FLAGS, 0o644, dir_fd=folder)
        except FileExistsError:
            _replace(folder, path.name, data, 0o644, durable=False)
            return
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    finally:
        os.close(folder)


def write_durable(path: Path, data: bytes, mode: int = 0o644, root: Path | None = None) -> None:
    """Replace ``path`` atomically and durably (temporary file, fsync, rename, fsync of the
    folder): for the few files written outside a journaled transaction (the token store).
    ``mode`` is the permission bits of the new file (0o600 for secrets)."""
    folder = _folder(root, path, make=True)
    try:
        _replace(folder, path.name, data, mode, durable=True)
        os.fsync(folder)
    finally:
        os.close(folder)


def _replace(folder: int, name: str, data: bytes, mode: int, durable: bool) -> None:
    """Write ``data`` to ``name``'s temporary file in the opened ``folder`` and rename it
    over ``name`` (both names in that one folder)."""
    tmp = f".{name}{TMP_SUFFIX}"
    with suppress(FileNotFoundError):  # a stale one (or one planted as a hard link) goes
        os.unlink(tmp, dir_fd=folder)
    fd = os.open(tmp, _WRITE_FLAGS, mode, dir_fd=folder)
    try:
        _write_all(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    try:  # rename never follows a link at the target: it replaces it
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        raise


def overwrite(path: Path, data: bytes, root: Path | None = None) -> None:
    """Write ``path`` in place (no temporary file, no rename; truncated only if it shrinks).
    Readers may see it half-written, so only for files read under the project lock."""
    try:
        fd = _open(root, path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                   | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        write_bytes(path, data, root)
        return
    try:
        info = os.fstat(fd)
        _regular(root, path, info)
        _write_all(fd, data)
        if info.st_size > len(data):
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def append_at(path: Path, offset: int, data: bytes, root: Path | None = None) -> None:
    """Make the file exactly its first ``offset`` bytes plus ``data`` (idempotent append)."""
    fd = _open(root, path, _APPEND_FLAGS, make=True)
    try:
        _regular(root, path, os.fstat(fd))
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        _write_all(fd, data)
    finally:
        os.close(fd)


def unlink(path: Path, root: Path | None = None) -> None:
    """Remove ``path`` if it is there (a link is removed, never followed)."""
    folder = _folder(root, path)
    if folder is None:
        return
    try:
        with suppress(FileNotFoundError):
            os.unlink(path.name, dir_fd=folder)
    finally:
        os.close(folder)


def tail(path: Path, root: Path | None = None) -> tuple[int, bool]:
    """``(size, ends with a newline)`` of a file; ``(0, True)`` when it is missing or empty
    (where an append starts, and whether it must start a new line)."""
    try:
        fd = _open(root, path, _READ_FLAGS) if root is not None else os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return 0, True
    try:
        size = os.fstat(fd).st_size
        return size, size == 0 or os.pread(fd, 1, size - 1) == b"\n"
    finally:
        os.close(fd)


def ends_with_newline(path: Path, root: Path | None = None) -> bool:
    """True for an empty or missing file or one whose last byte is a newline."""
    return tail(path, root)[1]


def fsync_file(path: Path) -> None:
    """fsync one file or folder (a no-op if it no longer exists)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, OSError):
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make renames and unlinks in ``folder`` durable (a no-op if it no longer exists)."""
    fsync_file(folder)


def sync(paths: list[Path]) -> None:
    """Make the given files (and the folders holding them) durable, in one batch.

    Linux: one ``sync()`` (waits for completion there) flushes every touched file, folder
    and rename at once, which is cheaper than an fsync per file. Elsewhere ``sync()`` may
    return early, so each file and folder is fsynced once."""
    if SYNC_ALL:
        os.sync()
        return
    for path in paths:
        fsync_file(path)
    for folder in {p.parent for p in paths}:
        fsync_file(folder)


SYNC_ALL = hasattr(os, "sync") and os.uname().sysname == "Linux"

