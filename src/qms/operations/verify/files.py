"""``qms verify``: every controlled file is accounted for by the signed trail.

* per document (:func:`check_content`, run where its trail is checked): the effective file,
  the draft and each archived version exist when the trail says qms wrote them and match the
  ``content_sha256`` of the event that did; a file the trail says must not exist (a text
  planted for a document that was never effective, an archived version that never existed)
  is a finding. The rules are :func:`qms.domain.integrity.bindings`, the same ones ``read``
  applies (``operations/_bound.py``);
* the tree (:func:`scan`, once): every file under ``QMS/`` belongs to a document of the
  trail, or is one of the files qms keeps without a per-document event (``.audit/`` and
  ``.meta/``, checked against the trail elsewhere; ``.keys/*.pub``; the passkey credentials
  ``.passkeys/{cred}.json``, checked by :mod:`.passkeys`; ``.keep``); evidence
  ``QMS/.evidence/{sha256}.xml`` exists for every hash a QUALIFY event recorded, matches it,
  and nothing else is there.

Files the earlier tool left (no chained event decides them) cannot be checked: a note.
"""

from __future__ import annotations

import os
import re

from qms.domain import doctypes, integrity
from qms.errors import QMSError
from qms.operations._bound import expected_archive
from qms.operations.verify.check import Check, parse
from qms.store import passkeys

_ARCHIVED = re.compile(r"^(.+)-v(\d+\.\d+)\.md$")
_EVIDENCE = re.compile(r"^([0-9a-f]{64})\.xml$")
_KEPT = frozenset({".keep", ".gitkeep", ".gitignore"})
_CHECKED_ELSEWHERE = frozenset({".audit", ".meta"})  # trails and meta: trails.py, state.py


UNLESS = "unless_in_chain"  # on a finding that holds only if the chain has no such document


def scan(check: Check, docs: set[str], full: bool) -> dict[str, list[tuple[str, str]]]:
    """Walk ``QMS/`` once: doc_id -> [(version, path)] of its archived versions, for
    :func:`check_content`; a file no document accounts for is a finding (only on a ``full``
    verify, not ``verify ID``). ``docs`` are the documents on disk; a file of another
    document is a finding marked :data:`UNLESS` (:func:`settle` drops it when the chain
    has that document), so the walk need not wait for the chain."""
    archives: dict[str, list[tuple[str, str]]] = {}
    evidence: list[str] = []
    folders: dict[str, tuple[str, ...]] = {}  # doc_id -> where its texts may lie ((): none)

    def stray(path: str, why: str, doc_id: str = "project", unless: bool = False) -> None:
        if full:
            check.find(doc_id, "unaccounted", f"{why}: no event of the audit trail accounts "
                       "for it (put there outside qms)", check.rel(path),
                       **{UNLESS: doc_id} if unless else {})

    def where(doc_id: str, archived: bool) -> tuple[str, ...]:
        key = (doc_id, archived)
        if key not in folders:
            try:
                folder = doctypes.folder_of(doc_id)
                flat = doctypes.flat_archive_folder(doc_id) if archived else None
                folders[key] = (folder, flat) if flat else (folder,)
            except QMSError:
                folders[key] = ()
        return folders[key]

    def walk(folder: str, rel: str, deep: bool = True) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        top, _, below = rel.partition("/")
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if deep and (rel or name not in _CHECKED_ELSEWHERE):
                    walk(f"{folder}/{name}", f"{rel}/{name}" if rel else name)
                continue
            if name in _KEPT or name.endswith(".qms-tmp"):
                continue  # folder markers; the store's temporary names (recovery removes them)
            path = f"{folder}/{name}"
            if not entry.is_file(follow_symlinks=False):
                if full:
                    check.find("project", "not_a_file", "a link or special file under QMS/ "
                               "(never followed or read)", check.rel(path))
            elif top == ".archive":
                m = _ARCHIVED.match(name)
                if m is None or below not in where(m[1], True):
                    stray(path, "not an archived version of any document")
                elif m[1] not in docs:
                    stray(path, f"an archived version of {m[1]}, which has no audit trail",
                          m[1], unless=True)
                else:
                    archives.setdefault(m[1], []).append((m[2], path))
            elif top == ".keys":
                if rel != ".keys" or not name.endswith(".pub"):
                    stray(path, "a file among the public keys that is not a key")
            elif top == ".passkeys":  # each one checked against its enroll event: passkeys.py
                if rel != ".passkeys" or not (name.endswith(".json")
                                              and passkeys.CRED_RE.match(name[:-5])):
                    stray(path, "a file among the passkey credentials that is not one")
            elif top == ".evidence":
                if rel == ".evidence" and _EVIDENCE.match(name):
                    evidence.append(name[:64])
                else:
                    stray(path, "a file among the evidence that is not stored evidence")
            else:
                stem = name[:-9] if name.endswith("-draft.md") else \
                    name[:-3] if name.endswith(".md") else ""
                if not stem or rel not in where(stem, False):
                    stray(path, "not a document file (wrong name or folder)")
                elif stem not in docs:
                    stray(path, f"a text of {stem}, which has no audit trail", stem,
                          unless=True)

    if full:
        walk(str(check.project.qms), "")
    else:  # `verify ID`: only the archive folders of those documents
        archive = f"{check.project.qms}/.archive"
        for folder in {f for d in docs for f in where(d, True)}:
            walk(f"{archive}/{folder}", f".archive/{folder}", deep=False)
    if full:
        _check_evidence(check, evidence, docs)
    return archives


def settle(findings: list[dict], chain_docs: dict) -> list[dict]:
    """The walk's findings once the chain is known (see :func:`scan`)."""
    return [f for f in findings if f.pop(UNLESS, None) not in chain_docs]


def _check_evidence(check: Check, stored: list[str], docs: set[str]) -> None:
    """Evidence is written with the QUALIFY event that records its hash, and never changed."""
    recorded: dict[str, str] = {}  # sha256 -> the RTM whose QUALIFY recorded it
    for doc_id in docs:
        if not doc_id.endswith("-RTM"):
            continue  # only qualify writes evidence, and it records it on the RTM
        try:
            data = check.read(check.files(doc_id)["trail"]) or b""
        except QMSError:
            continue  # a link in place of the trail: reported with the trail
        for line in integrity.lines_of(data):
            if b'"QUALIFY"' not in line:
                continue
            try:
                event = parse(line)
            except ValueError:
                continue  # reported with the trail
            if isinstance(event, dict):  # the earlier tool's lines are anchored too
                for item in event.get("evidence") or []:
                    if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                        recorded.setdefault(item["sha256"], doc_id)
    have = set(stored)
    for sha, doc_id in sorted(recorded.items()):
        path = str(check.project.evidence_path(sha))
        if sha not in have:
            check.find(doc_id, "missing", f"evidence {sha[:12]} recorded by QUALIFY is gone",
                       check.rel(path))
            continue
        try:
            data = check.read(path)
        except QMSError as err:
            check.find(doc_id, "not_a_file", err.message, check.rel(path))
            continue
        if data is None or integrity.sha256_bytes(data) != sha:
            check.find(doc_id, "content", f"evidence {sha[:12]} is not the file QUALIFY "
                       "recorded (changed outside qms)", check.rel(path))
    for sha in sorted(have - set(recorded)):
        check.find("project", "unaccounted", "evidence that no QUALIFY event recorded (put "
                   "there outside qms)", check.rel(str(check.project.evidence_path(sha))))


def check_content(check: Check, doc_id: str, files: dict[str, str], events: list[dict],
                  archives: list[tuple[str, str]]) -> None:
    """The document's effective file, draft and archived versions against its trail."""
    bound = integrity.bindings(events)
    for role, what in (("effective", "effective file"), ("draft", "draft")):
        expected, path = bound[role], files[role]
        if expected is integrity.UNKNOWN:
            check.unverified += os.path.lexists(path)
            continue
        data = check.read(path)
        if data is None:
            if expected is not None:
                check.find(doc_id, "missing", f"the {what} is gone, but the audit trail "
                           f"records it ({expected.get('event')} v{expected.get('version')}): "
                           "deleted outside qms", check.rel(path))
        elif expected is None:
            check.find(doc_id, "unaccounted", f"a {what} that the audit trail does not "
                       "account for (the document has none: put there outside qms)",
                       check.rel(path))
        elif integrity.sha256_bytes(data) != expected.get("content_sha256"):
            check.find(doc_id, "content", f"the {what} is not the text of the last "
                       f"{expected.get('event')} (v{expected.get('version')})", check.rel(path))
    found = {}
    for version, path in archives:
        found.setdefault(version, path)
        expected = expected_archive(bound, version)
        if expected is integrity.UNKNOWN:
            check.unverified += 1
            continue
        data = check.read(path)
        if expected is None:
            check.find(doc_id, "unaccounted", f"archived version {version} was never "
                       "recorded by the audit trail (put there outside qms)", check.rel(path))
        elif data is not None and integrity.sha256_bytes(data) != expected["content_sha256"]:
            check.find(doc_id, "content", f"archived version {version} is not the text that "
                       "was acted on at that version", check.rel(path))
    for version in sorted(bound["required"] - set(found)):
        check.find(doc_id, "content", f"archived version {version} is missing",
                   check.rel(files["archive"].replace("{v}", str(version))))
