"""A cheap listing of every document: its meta and its title, for the web dashboard.

Reads only ``.meta/{TYPE}/{ID}.json`` and the head of each document file. A parsed entry is
kept in memory keyed by the file's identity (inode, mtime, size); every write is an atomic
rename (a new inode), so an unchanged key means unchanged content. A full listing
(:func:`documents`) of 10,000 documents costs two ``stat`` calls per document; nothing is
ever written.

The dashboard reads a :class:`Listing` instead: every document's row in order, with the
counts per status and type and what waits on whom, kept in memory. The authority is the
one writer: each of its commits marks the documents it touched, which are re-read (by
identity, as above) at the next look, so its own writes show at once; a sweep of every
file's identity (:func:`documents`), run in the background at most every
:data:`SWEEP_S` seconds while the dashboard is being read, notices what changed behind
its back (another process, a hand edit). A look costs the work on the rows it shows.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from bisect import bisect_left

from qms.domain import doctypes, workflow
from qms.errors import QMSError, ValidationError
from qms.store import atomic, frontmatter, transaction
from qms.store.project import Project

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HEAD = 4096  # bytes read for a title: the frontmatter sits at the top of the file
_TITLE_RE = re.compile(rb"^title:", re.M)
_cache: dict[str, tuple[tuple[int, int, int], Any]] = {}
_lock = threading.Lock()


def entries(project: Project) -> list[tuple[str, dict[str, Any], str]]:
    """``(doc_id, meta, title)`` for every document that has a meta file (cancelled ones
    have none). One listing at a time: a second caller waits and then finds the files
    already read."""
    with _lock:
        return _documents(project)


def _documents(project: Project) -> list[tuple[str, dict[str, Any], str]]:
    found = []
    try:
        folders = [e.path for e in os.scandir(project.qms / ".meta")
                   if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
    except FileNotFoundError:
        return []
    for folder in folders:
        for entry in os.scandir(folder):
            name = entry.name
            if not name.endswith(".json") or name.endswith(".source.json"):
                continue
            meta = _cached(entry.path, _load_meta)
            doc_id = name[:-5]
            if not isinstance(meta, dict) or meta.get("doc_id", doc_id) != doc_id:
                continue  # damaged or foreign file: `qms status` reports it, a listing skips it
            found.append((doc_id, meta, _title(project, doc_id)))
    return found


_files: dict[tuple[str, str], tuple[str, ...]] = {}  # (root, ID) -> (draft, effective) paths


def _title(project: Project, doc_id: str) -> str:
    """The title in the draft if there is one, else in the effective file (as `qms status`)."""
    key = (str(project.root), doc_id)
    paths = _files.get(key)
    if paths is None:
        try:
            doc_id = doctypes.normalize_id(doc_id)
        except ValidationError:
            return ""
        folder = os.path.join(project.qms, doctypes.folder_of(doc_id), doc_id)  # no pathlib:
        paths = _files[key] = (f"{folder}-draft.md", f"{folder}.md")  # 10,000 of them, cold
    for path in paths:
        title = _cached(path, _load_title)
        if title is not None:
            return title
    return ""


def _cached(path: str, load: Any) -> Any:
    """``load(open file)`` memoised on the file's identity; None when the file is absent,
    a link or not a regular file. Known file: one ``stat``. New or changed file: opened
    once, identified by ``fstat``."""
    hit = _cache.get(path)
    if hit is not None:
        try:
            st = os.lstat(path)  # a link put in its place has its own identity: a miss
        except (FileNotFoundError, NotADirectoryError):
            del _cache[path]
            return None
        if hit[0] == (st.st_ino, st.st_mtime_ns, st.st_size):
            return hit[1]
    try:  # never through a link, never blocking on a FIFO (atomic.open_regular)
        opened = atomic.open_regular(path)
        if opened is None:
            _cache.pop(path, None)
            return None
        fd, st = opened
        with os.fdopen(fd, "rb") as fh:
            value = load(fh)
    except (OSError, QMSError):  # unreadable, a link, a special file: not listed, not cached
        _cache.pop(path, None)
        return None
    _cache[path] = ((st.st_ino, st.st_mtime_ns, st.st_size), value)
    return value


def _load_meta(fh: Any) -> Any:
    try:
        return json.loads(fh.read())
    except ValueError:
        return None


def _load_title(fh: Any) -> str:
    head = fh.read(_HEAD)
    if not _TITLE_RE.search(head) and len(head) < _HEAD:
        return ""
    text = head.decode("utf-8", errors="replace")
    if len(head) == _HEAD and "\n---" not in text[3:]:  # long frontmatter: read it whole
        text += fh.read().decode("utf-8", errors="replace")
    return frontmatter.title_of(text)


# -- the dashboard's listing ---------------------------------------------------------------
SWEEP_S = 2.0  # a look starts a sweep in the background when the last one is older than this
_LISTED = ("doc_id", "doc_type", "version", "status", "responsible_user", "checked_out",
           "checked_out_date", "effective_version", "pending_assignees")
_TYPE_ORDER = {t: n for n, t in enumerate(doctypes.base_types())}
_NUMBERS = re.compile(r"\d+")


def row(doc_id: str, meta: dict[str, Any], title: str) -> dict[str, Any]:
    """A document as the dashboard lists it: the listed meta fields and its title."""
    found = {k: meta.get(k) for k in _LISTED}
    found["doc_id"] = doc_id
    found["doc_type"] = str(found["doc_type"] or doctypes.type_of(found["doc_id"]))
    found["pending_assignees"] = list(found["pending_assignees"] or [])
    found["title"] = title
    return found


def order_of_type(doc_type: str) -> tuple[int, str]:
    return _TYPE_ORDER.get(doc_type, len(_TYPE_ORDER)), doc_type


def order(found: dict[str, Any]) -> tuple:
    """Rows sort by type (in the order of the document types), then by the numbers in the
    ID (CR-2 before CR-10)."""
    return (*order_of_type(found["doc_type"]),
            [int(n) for n in _NUMBERS.findall(found["doc_id"])], found["doc_id"])


class Listing:
    """Every document's row of one project, in order, with its counts (see the module)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._keys: list[tuple] = []  # order() of every row, sorted
        self._dirty: set[str] = set()
        self._built = threading.Event()
        self._swept = 0.0  # when the last sweep started (monotonic)
        self._sweeping = False
        self._view: View | None = None  # derived from the rows; dropped when one changes
        self._reread: set[str] = set()  # documents re-read since the sweep started

    # -- what a look sees ----------------------------------------------------------------
    def view(self) -> View:
        """Every row in order and what is counted over them, as of now (what the authority
        changed since the last look is read again first)."""
        self._fresh()
        with self._lock:
            if self._view is None:
                rows = [self._rows[key[-1]] for key in self._keys]
                self._view = View(rows)
            return self._view

    def _fresh(self) -> None:
        if not self._built.is_set():
            self.sweep()
        elif time.monotonic() - self._swept > SWEEP_S:
            self._start_sweep()
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            self._reread |= dirty
        if dirty:
            with _lock:  # the file cache is shared with entries()
                found = {doc_id: self._read(doc_id) for doc_id in dirty}
            with self._lock:
                for doc_id, new in found.items():
                    self._put(doc_id, new)

    def _read(self, doc_id: str) -> dict[str, Any] | None:
        try:
            path = os.path.join(self.project.qms, ".meta", doctypes.type_of(doc_id),
                                f"{doc_id}.json")
        except ValidationError:
            return None
        meta = _cached(path, _load_meta)
        if not isinstance(meta, dict) or meta.get("doc_id", doc_id) != doc_id:
            return None
        return row(doc_id, meta, _title(self.project, doc_id))

    def _put(self, doc_id: str, new: dict[str, Any] | None) -> None:
        """Replace one row (None: remove it), keeping the order (caller holds the lock)."""
        old = self._rows.pop(doc_id, None)
        if old is not None:
            key = order(old)
            del self._keys[bisect_left(self._keys, key)]
        if new is not None:
            self._rows[doc_id] = new
            key = order(new)
            self._keys.insert(bisect_left(self._keys, key), key)
        self._view = None

    # -- keeping it current ----------------------------------------------------------------
    def changed(self, paths: list[str]) -> None:
        """The authority committed writes to ``paths`` (relative to the root): the
        documents whose meta or text they are are read again at the next look."""
        touched = set()
        for path in paths:
            name = path.rpartition("/")[2]
            if path.startswith("QMS/.meta/") and name.endswith(".json") \
                    and not name.endswith(".source.json"):
                touched.add(name[:-5])
            elif path.startswith("QMS/") and not path.startswith("QMS/.") \
                    and name.endswith(".md"):
                touched.add(name[:-9] if name.endswith("-draft.md") else name[:-3])
        if touched:
            with self._lock:
                self._dirty |= touched

    def _start_sweep(self) -> None:
        with self._lock:
            if self._sweeping:
                return
            self._sweeping = True
        threading.Thread(target=self.sweep, name="qms-web-sweep", daemon=True).start()

    def sweep(self) -> None:
        """Every file's identity checked (what changed behind the authority's back is read
        again), and the rows rebuilt from them."""
        with self._lock:
            self._sweeping, self._reread = True, set()
        try:
            self._swept = time.monotonic()
            rows = {doc_id: row(doc_id, meta, title)
                    for doc_id, meta, title in entries(self.project)}
            keys = sorted(order(r) for r in rows.values())
            with self._lock:
                if rows != self._rows:
                    self._rows, self._keys, self._view = rows, keys, None
                self._dirty |= self._reread  # re-read during the sweep: may be newer
            self._built.set()
        finally:
            with self._lock:
                self._sweeping = False


class View:
    """What one state of the listing shows: ``rows`` in order, ``by_status`` and ``by_type``
    (counts) and ``waiting`` (the rows in review or approval, in order)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        by_status: dict[str, int] = {}
        by_type: dict[str, int] = {}
        self.waiting = []
        for found in rows:
            by_status[found["status"]] = by_status.get(found["status"], 0) + 1
            by_type[found["doc_type"]] = by_type.get(found["doc_type"], 0) + 1
            if found["status"] in workflow.IN_WORKFLOW:
                self.waiting.append(found)
        self.by_status = dict(sorted(by_status.items(), key=lambda kv: str(kv[0])))
        self.by_type = dict(sorted(by_type.items(), key=lambda kv: order_of_type(kv[0])))


def waiting_on(rows: list[dict[str, Any]]) -> dict[str, int]:
    """user -> how many of ``rows`` wait on that user, by user."""
    found: dict[str, int] = {}
    for row in rows:
        for name in row["pending_assignees"]:
            found[name] = found.get(name, 0) + 1
    return dict(sorted(found.items()))


_listings: dict[str, Listing] = {}


def listing(project: Project) -> Listing:
    """The listing of this project (one per project root in a process), which the
    process's own commits keep current from then on."""
    key = str(project.root)
    found = _listings.get(key)
    if found is None:
        with _lock:
            found = _listings.get(key)
            if found is None:
                found = _listings[key] = Listing(project)
                if _committed not in transaction.COMMITTED:
                    transaction.COMMITTED.append(_committed)
    return found


def _committed(root: str, paths: list[str]) -> None:
    found = _listings.get(root)
    if found is not None:
        found.changed(paths)
