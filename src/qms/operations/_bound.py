"""The one place that decides whether a document file may be served: a controlled text is
only ever shown as what its binding event in the signed trail says it is.

``read``, ``qms_read``, the web pages, ``qualify`` (the RS in force) and every command
that signs or routes a draft (``_shared.draft_text`` in a transaction) read document texts
through :class:`Texts`:
the trail is read once, each file is hashed once, and a file whose hash does not match the
event that wrote it, a file the trail says must not exist (planted), or a file the trail
says must exist but is gone, is refused with a ProjectError that names it and points to
``qms verify``. Files left by the earlier tool (no chained event decides them) are served as
they are, as before. The rules are :func:`qms.domain.integrity.bindings`; ``qms verify``
applies the same ones to every file (``operations/verify/files.py``).
"""

from __future__ import annotations

from pathlib import Path

from qms.domain import integrity, versions
from qms.errors import ProjectError, ValidationError
from qms.store import audit
from qms.store.project import Project
from qms.store.transaction import Transaction

_SIGNATURE_FIELDS = ("ts", "user", "signer_name", "meaning", "version", "content_sha256",
                     "event")


def expected_archive(bound: dict, version: str) -> dict | str | None:
    """The event an archived ``version`` must match, UNKNOWN (the earlier tool's, not
    checkable) or None (no such version was ever recorded: the file must not exist)."""
    if version in bound["archive"]:
        return bound["archive"][version]
    first = bound["first"]
    if version in bound["legacy"] or first is None or _older(version, first):
        return integrity.UNKNOWN if bound["legacy"] or first is None else None
    return None


def _older(a: str, b: str) -> bool:
    try:
        return versions.parse(a) < versions.parse(b)
    except ValidationError:
        return False


class Texts:
    """The files of one document as its trail binds them."""

    def __init__(self, project: Project, doc_id: str, tx: Transaction | None = None) -> None:
        """``tx``: the files and trail as this transaction sees them (staged changes too)."""
        self.project, self.doc_id, self.tx = project, doc_id, tx
        self.events = audit.read(project, doc_id, tx=tx)
        self.bound = integrity.bindings(self.events)

    def effective(self) -> str | None:
        return self._checked(self.project.effective_path(self.doc_id), "effective",
                             self.bound["effective"])

    def draft(self) -> str | None:
        return self._checked(self.project.draft_path(self.doc_id), "draft",
                             self.bound["draft"])

    def archived(self, paths: list[Path], version: str) -> tuple[Path, str] | None:
        """``(path, text)`` of an archived version from the first of ``paths`` that holds
        it (ours, then the earlier tool's flat place)."""
        expected = expected_archive(self.bound, version)
        for path in paths:
            if (text := self._checked(path, f"archived version {version}", expected,
                                      False)) is not None:
                return path, text
        if version in self.bound["required"]:
            self._checked(paths[0], f"archived version {version}", expected)  # raises
        return None

    def _checked(self, path: Path, what: str, expected: dict | str | None,
                 required: bool = True) -> str | None:
        text = self.tx.read_text(path) if self.tx else self.project.read_text(path)
        rel, doc_id = self.project.rel(path), self.doc_id
        hint = f"Run 'qms verify {doc_id}' to see what else changed."
        if expected is integrity.UNKNOWN:
            return text
        if text is None:
            if expected is not None and required:
                raise ProjectError(
                    f"{doc_id}: the {what} file {rel} is missing, but the audit trail records "
                    f"it ({expected.get('event')} v{expected.get('version')}): it was deleted "
                    f"outside qms. {hint}", doc_id=doc_id, path=rel, kind="missing")
            return None
        if expected is None:
            raise ProjectError(
                f"{doc_id}: {rel} is not a text qms wrote: the audit trail records no {what} "
                f"of {doc_id}, so it was put there outside qms and is not served. {hint}",
                doc_id=doc_id, path=rel, kind="planted")
        if integrity.sha256_text(text) != expected.get("content_sha256"):
            raise ProjectError(
                f"{doc_id}: {rel} is not the text recorded by {expected.get('event')} "
                f"v{expected.get('version')} (its SHA-256 differs): it was changed outside "
                f"qms and is not served. {hint}", doc_id=doc_id, path=rel, kind="changed")
        return text

    def signatures(self, role: str, version: str | None = None) -> list[dict]:
        """The signature records (21 CFR 11.50) behind a text served: for the effective file
        those of the approval round that put it in force (all of them once CLOSED); for an
        archived version that was in force, those of its approval round; none otherwise."""
        if role == "effective":
            made = self.bound["effective"]
            if not isinstance(made, dict):
                return []
            if made.get("event") == "CLOSE" or self._closed():
                events = self.events
            else:
                source = self.bound["approved"].get(made.get("version"))
                if source is None:
                    return []
                events = [e for e in self.events if e.get("version") == source]
        else:
            source = self.bound["approved"].get(version)
            if source is None:
                return []
            events = [e for e in self.events if e.get("version") == source]
        return [{k: e.get(k) for k in _SIGNATURE_FIELDS} for e in events if e.get("meaning")]

    def _closed(self) -> bool:
        return any(e.get("event") == "CLOSE" and integrity.is_chained(e) for e in self.events)
