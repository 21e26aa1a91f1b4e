"""Document type registry and document ID rules (pure).

IDs are strictly validated here, which is what keeps path traversal out of every path
the store builds: an ID that does not match one of these shapes is rejected.
"""

from __future__ import annotations

import re
from collections import namedtuple
from functools import lru_cache

from qms.errors import ValidationError

# (collections.namedtuple rather than typing.NamedTuple: importing typing costs every CLI call)
_DocTypeFields = namedtuple("_DocTypeFields", [
    "name",            # str: registry key, also the .meta/.audit folder name
    "folder",          # str: storage folder under QMS/
    "executable",      # bool
    "parents",         # tuple[str, ...]: allowed parent types (child types only)
    "folder_per_doc",  # bool: CR/INV: QMS/CR/CR-001/
    "singleton",       # bool: SDLC-{NS}-RS / -RTM
    "attachment",      # bool: VR: closes with its parent
    "parent_status",   # str | None: required parent status at creation
], defaults=((), False, False, False, None))


class DocType(_DocTypeFields):
    __slots__ = ()

    @property
    def is_child(self) -> bool:
        return bool(self.parents)


CHILD_TYPES = ("TP", "ER", "VAR", "ADD", "VR")

_REGISTRY: dict[str, DocType] = {
    "SOP": DocType("SOP", "SOP", False),
    "CR": DocType("CR", "CR", True, folder_per_doc=True),
    "INV": DocType("INV", "INV", True, folder_per_doc=True),
    "TP": DocType("TP", "", True, parents=("CR",)),
    "ER": DocType("ER", "", True, parents=("TP",)),
    "VAR": DocType("VAR", "", True, parents=("CR", "INV", "ADD")),
    "ADD": DocType("ADD", "", True, parents=("CR", "INV", "VAR", "ADD"), parent_status="CLOSED"),
    "VR": DocType("VR", "", True, parents=("CR", "INV", "VAR", "ADD"), attachment=True,
                  parent_status="IN_EXECUTION"),
    "TEMPLATE": DocType("TEMPLATE", "TEMPLATE", False),
}

NAMESPACE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
TEMPLATE_NAME_RE = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,63}$")
_NUM = r"\d{3,6}"
_ROOT_RE = re.compile(rf"^(CR|INV)-({_NUM})$")
_CHILD_RE = re.compile(rf"^(?:CR|INV)-{_NUM}(?:-(?:TP|ER|VAR|ADD|VR)-{_NUM})+$")
_SOP_RE = re.compile(rf"^SOP-{_NUM}$")
_TEMPLATE_RE = re.compile(r"^TEMPLATE-([A-Z0-9][A-Z0-9_]{0,63})$")
_SDLC_RE = re.compile(r"^SDLC-([A-Z][A-Z0-9_]{0,31})-(RS|RTM)$")
_LAST_SEG_RE = re.compile(rf"-(TP|ER|VAR|ADD|VR)-({_NUM})$")
# A child with no parent in its ID (``VAR-001``), created by a bug of the earlier tool and
# stored in ``QMS/CR/``; such documents are read and worked on, never created.
_ORPHAN_RE = re.compile(rf"^(TP|ER|VAR|ADD|VR)-{_NUM}$")
ORPHAN_FOLDER = "CR"
_MAX_ID_LEN = 120


def normalize_id(doc_id: str) -> str:
    """Upper-case and strip an ID typed by a user; reject anything that is not an ID."""
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise ValidationError("A document ID is required.")
    value = doc_id.strip().upper()
    if len(value) > _MAX_ID_LEN or not value.isascii():
        raise ValidationError(f"Invalid document ID: {doc_id[:60]!r}.")
    type_of(value)  # validates the shape
    return value


@lru_cache(maxsize=4096)  # pure, and asked several times per command for the same IDs
def type_of(doc_id: str) -> str:
    """Return the registry key of a (normalised) ID, e.g. ``CR-001-VAR-002`` -> ``VAR``."""
    if _SOP_RE.match(doc_id):
        return "SOP"
    if m := _ROOT_RE.match(doc_id):
        return m.group(1)
    if _CHILD_RE.match(doc_id):
        return _LAST_SEG_RE.search(doc_id).group(1)
    if m := _ORPHAN_RE.match(doc_id):
        return m.group(1)
    if _TEMPLATE_RE.match(doc_id):
        return "TEMPLATE"
    if m := _SDLC_RE.match(doc_id):
        return f"{m.group(1)}-{m.group(2)}"
    raise ValidationError(
        f"Invalid document ID: {doc_id[:60]!r}. Expected SOP-NNN, CR-NNN, INV-NNN, "
        "a child like CR-NNN-VAR-NNN, TEMPLATE-NAME or SDLC-NS-RS/RTM.")


def is_orphan(doc_id: str) -> bool:
    """A legacy child ID without its parent (``VAR-001``)."""
    return bool(_ORPHAN_RE.match(doc_id))


def doctype(type_name: str) -> DocType:
    """The DocType for a registry key; ``{NS}-RS``/``{NS}-RTM`` are built on demand."""
    if type_name in _REGISTRY:
        return _REGISTRY[type_name]
    ns, _, kind = type_name.rpartition("-")
    if kind in ("RS", "RTM") and NAMESPACE_RE.match(ns):
        return DocType(type_name, f"SDLC-{ns}", False, singleton=True)
    raise ValidationError(f"Unknown document type: {type_name}.")


def base_types() -> list[str]:
    return list(_REGISTRY)


def parent_of(doc_id: str) -> str | None:
    """The parent ID of a child document (``CR-001-TP-001-ER-001`` -> ``CR-001-TP-001``)."""
    m = _LAST_SEG_RE.search(doc_id)
    if m and _CHILD_RE.match(doc_id):
        return doc_id[: m.start()]
    return None


def root_of(doc_id: str) -> str:
    """The top-level CR/INV whose folder holds this document (or the ID itself)."""
    m = re.match(rf"^(?:CR|INV)-{_NUM}", doc_id)
    return m.group(0) if m else doc_id


@lru_cache(maxsize=4096)
def folder_of(doc_id: str) -> str:
    """Folder (relative to QMS/) that holds the document's files."""
    t = doctype(type_of(doc_id))
    if is_orphan(doc_id):
        return ORPHAN_FOLDER
    if t.is_child or t.folder_per_doc:
        root = root_of(doc_id)
        return f"{type_of(root)}/{root}"
    return t.folder


def flat_archive_folder(doc_id: str) -> str | None:
    """The earlier tool also archived documents of a CR/INV folder flat under
    ``.archive/{CR|INV}/`` instead of ``.archive/{CR|INV}/{ROOT}/`` (e.g.
    ``.archive/CR/CR-028-VAR-001-v0.1.md``); None for documents with no such second place."""
    head, sep, _ = folder_of(doc_id).partition("/")
    return head if sep else None


def number_of(doc_id: str) -> int:
    """The trailing sequence number of an ID (0 for singletons and templates)."""
    m = re.search(r"-(\d+)$", doc_id)
    return int(m.group(1)) if m else 0


def format_child(parent_id: str, type_name: str, n: int) -> str:
    return f"{parent_id}-{type_name}-{n:03d}"


def format_root(type_name: str, n: int) -> str:
    return f"{type_name}-{n:03d}"
