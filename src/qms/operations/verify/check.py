"""What every part of ``qms verify`` shares: the findings being gathered (:class:`Check`),
the one reader of files and the one JSON-line parser.

Files are read through :class:`qms.store.atomic.Folders` from the project root, one folder
descriptor at a time (the folders it opened are kept for the run, so a thousand trails in
one folder cost one open of it): a link or a special file planted in a file's place is
refused (``ProjectError``), never followed or waited on.
"""

from __future__ import annotations

import json.scanner
from pathlib import Path

from qms.domain import doctypes, integrity
from qms.store import atomic
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

PROJECT = integrity.PROJECT_TRAIL
COUNTERS = ("events", "chained", "legacy", "legacy_docs", "unverified", "esignatures")
SIGNING = ("REVIEW", "APPROVE", "REJECT", "CLOSE")  # signatures a passkey policy can cover
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner, minus loads' wrappers
HASH = 64  # hex digits of a SHA-256
NOT_A_HASH = "?" * HASH  # stands for a recorded "hash" that is not one: it matches no line


def pairs(hashed: tuple[list[Any], str]) -> list[tuple[Any, str]]:
    """A document's events as the chain or its trail has them, ``(seqs, hashes)`` (the
    hashes end to end: compact, and quick to send between processes), as ``(seq, hash)``."""
    seqs, hashes = hashed
    return [(seq, hashes[i * HASH:(i + 1) * HASH]) for i, seq in enumerate(seqs)]


def parse(line: bytes) -> Any:
    """One JSON line (bytes) -> its value; ValueError if it is not exactly one JSON value."""
    try:
        text = line.decode("utf-8")
        value, end = _SCAN(text, 0)
    except (StopIteration, UnicodeDecodeError):
        raise ValueError("not JSON") from None
    if end != len(text) and text[end:].strip():
        raise ValueError("trailing data")
    return value


class Check:
    """The findings, notes and counters of one verify run (or of one worker's share)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.findings: list[dict] = []
        self.notes: list[str] = []
        self.chain_docs: dict[str, tuple[list[int], str]] = {}  # doc_id -> (seqs, hashes)
        self.signatures = 0
        self.events = self.chained = self.legacy = self.esignatures = 0
        self.legacy_docs = self.unverified = 0
        self.anchor: dict[str, str] | None = None
        self.archives: dict[str, list[tuple[str, str]]] = {}  # files.scan
        self._by_seq: dict[str, dict[int, str]] = {}
        self.slot: tuple[int, Any] | None = None  # trails.check_doc: where the chain goes
        self.signing = False  # trails.check_doc: also collect signatures without a passkey
        self.signed: list[tuple[int, dict]] = []  # trails.check_doc: see SIGNING
        self._folders = atomic.Folders(project.root)
        self._project_lines: list[tuple[bytes, dict[str, Any]]] | None = None

    def project_lines(self) -> list[tuple[bytes, dict[str, Any]]]:
        """The project trail's chained events with their lines, in order (read once for
        the whole check; damaged lines are the trail check's findings)."""
        if self._project_lines is None:
            found = []
            for line in integrity.lines_of(self.read(self.files(PROJECT)["trail"]) or b""):
                try:
                    event = parse(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and integrity.is_chained(event):
                    found.append((line, event))
            self._project_lines = found
        return self._project_lines

    def project_events(self) -> list[dict[str, Any]]:
        """The project trail's chained events, in order (:meth:`project_lines`)."""
        return [event for _, event in self.project_lines()]

    def vouches(self, doc_id: str, line: bytes, event: dict) -> bool:
        """Whether this exact line of ``doc_id``'s trail is the chain's entry with its
        ``seq`` (the chain's links and signatures are :mod:`.chain`'s to check)."""
        index = self._by_seq.get(doc_id)
        if index is None:
            index = self._by_seq[doc_id] = dict(pairs(self.chain_docs.get(doc_id, ([], ""))))
        return index.get(event.get("seq")) == integrity.sha256_bytes(line)  # type: ignore

    def read(self, path: Path | str) -> bytes | None:
        """A file's bytes (None: absent), read from the project root (see the module)."""
        return self._folders.read(str(path))

    def close(self) -> None:
        """Close the folders kept open for reading."""
        self._folders.close()

    def files(self, doc_id: str) -> dict[str, str]:
        """The document's file paths as strings: the layout of ``Project.*_path``
        (store/project.py; a test checks they agree), without building Path objects in a
        loop that runs for every document."""
        q = str(self.project.qms)
        if doc_id == PROJECT:
            return {"trail": f"{q}/.audit/project.jsonl"}
        kind, folder = doctypes.type_of(doc_id), doctypes.folder_of(doc_id)
        return {"trail": f"{q}/.audit/{kind}/{doc_id}.jsonl",
                "meta": f"{q}/.meta/{kind}/{doc_id}.json",
                "draft": f"{q}/{folder}/{doc_id}-draft.md",
                "effective": f"{q}/{folder}/{doc_id}.md",
                "archive": f"{q}/.archive/{folder}/{doc_id}-v{{v}}.md"}

    def rel(self, path: str) -> str:
        return atomic.rel(self.project.root, path)

    def find(self, doc_id: str, kind: str, message: str, where: str = "", **extra: Any) -> None:
        self.findings.append({"doc_id": doc_id, "kind": kind, "message": message,
                              "where": where, **extra})
