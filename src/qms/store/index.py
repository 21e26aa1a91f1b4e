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

from qms.domain import doctypes
from qms.errors import ValidationError
from qms.store import frontmatter
from qms.store.project import Project

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HEAD = 4096  # bytes read for a title: the frontmatter sits at the top of the file
_TITLE_RE = re.compile(rb"^title:", re.M)
_cache: dict[str, tuple[tuple[int, int, int], Any]] = {}


def documents(project: Project) -> list[tuple[dict[str, Any], str]]:
    """``(meta, title)`` for every document that has a meta file (cancelled ones have none)."""
    found = []
    try:
        folders = [e.path for e in os.scandir(project.qms / ".meta")
                   if e.is_dir() and not e.name.startswith(".")]
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
        paths = _files[key] = (str(project.draft_path(doc_id)), str(project.effective_path(doc_id)))
    for path in paths:
        title = _cached(path, _load_title)
        if title is not None:
            return title
    return ""


def _cached(path: str, load: Any) -> Any:
    """``load(path)`` memoised on the file's identity; None when the file is absent."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        _cache.pop(path, None)
        return None
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    hit = _cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = load(path)
    _cache[path] = (key, value)
    return value


def _load_meta(path: str) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError):
        return None


def _load_title(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return ""
    if not _TITLE_RE.search(head) and len(head) < _HEAD:
        return ""
    text = head.decode("utf-8", errors="replace")
    if len(head) == _HEAD and "\n---" not in text[3:]:  # long frontmatter: read it whole
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    return frontmatter.title_of(text)
