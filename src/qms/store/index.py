"""A cheap listing of every document: its meta and its title, for the web dashboard.

Reads only ``.meta/{TYPE}/{ID}.json`` and the head of each document file. A parsed entry is
kept in memory keyed by the file's identity (inode, mtime, size); every write is an atomic
rename (a new inode), so an unchanged key means unchanged content. A warm listing of 10,000
documents costs two ``stat`` calls per document; nothing is ever written.
"""

from __future__ import annotations

import json
import os
import re
import threading

from qms.domain import doctypes
from qms.errors import QMSError, ValidationError
from qms.store import atomic, frontmatter
from qms.store.project import Project

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HEAD = 4096  # bytes read for a title: the frontmatter sits at the top of the file
_TITLE_RE = re.compile(rb"^title:", re.M)
_cache: dict[str, tuple[tuple[int, int, int], Any]] = {}
_lock = threading.Lock()


def documents(project: Project) -> list[tuple[dict[str, Any], str]]:
    """``(meta, title)`` for every document that has a meta file (cancelled ones have none).
    One listing at a time: a second caller waits and then finds the files already read."""
    with _lock:
        return _documents(project)


def _documents(project: Project) -> list[tuple[dict[str, Any], str]]:
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
            found.append((meta, _title(project, doc_id)))
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
