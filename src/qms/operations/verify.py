"""``qms verify [ID ...]``: check the audit chain, its signatures, content hashes and meta.

What is checked (docs/integrity.md explains what it proves and what it does not):

* the project chain (``QMS/.audit/chain.jsonl``): consecutive ``seq``, every entry linked to
  the previous one by hash, signatures by known keys introduced before use; the last entry
  signed by each key is verified (it vouches for every entry before it through the hash
  links), every signature with ``all_signatures``; a bad one is traced to the first entry
  that fails;
* every trail: each chained event links to the previous line, the first one after lines of
  the earlier tool anchors their hash, and the trail's chained events are exactly the
  chain's entries for that document, in order, with the same hashes (nothing edited,
  inserted, removed, reordered, copied or rolled back; no document deleted);
* content (verify_files.py): every file under ``QMS/`` is accounted for; the draft, the
  effective file and archived versions match the ``content_sha256`` of the events that
  acted on them;
* git (verify_git.py): the chain committed at HEAD (and ``--since``) is a prefix of today's;
* meta: status, version, checkout and owner agree with the state replayed from the trail;
  the whole file is the state the last event recorded; tokens and settings are vouched for
  by signed events (:mod:`qms.operations.verify_state`).

Events of the earlier tool (no chain fields) cannot be checked: they are notes, not findings.
"""

from __future__ import annotations

import hashlib
import json
import json.scanner
import os
import re
from pathlib import Path

from qms.domain import doctypes, integrity
from qms.errors import ProjectError, QMSError
from qms.operations import verify_files, verify_git, verify_state
from qms.operations._shared import Result, authorize
from qms.store import atomic, chain, keys, transaction
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

PROJECT = integrity.PROJECT_TRAIL
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner, minus loads' wrappers


# a chain line exactly as qms writes it (anything else goes through the JSON parser)
_ENTRY_RE = re.compile(r'\{"seq": ([1-9][0-9]*), "doc_id": "([A-Za-z0-9_-]+)", '
                       r'"event_sha256": "([0-9a-f]{64})", "prev_sha256": (?:"([0-9a-f]{64})"|null), '
                       r'"key_id": "([0-9a-f]+)", "sig": "([0-9a-f]+)"\}')
PARALLEL_FROM = 2000  # documents; below this a second process costs more than it saves


def _entry(line: bytes) -> Any:
    try:
        m = _ENTRY_RE.fullmatch(line.decode("ascii"))
    except UnicodeDecodeError:
        m = None
    if m is None:
        return _parse(line)
    return {"seq": int(m[1]), "doc_id": m[2], "event_sha256": m[3], "prev_sha256": m[4],
            "key_id": m[5], "sig": m[6]}


def _parse(line: bytes) -> Any:
    """One JSON line (bytes) -> its value; ValueError if it is not exactly one JSON value."""
    try:
        text = line.decode("utf-8")
        value, end = _SCAN(text, 0)
    except (StopIteration, UnicodeDecodeError):
        raise ValueError("not JSON") from None
    if end != len(text) and text[end:].strip():
        raise ValueError("trailing data")
    return value


class VerifyResult(Result):
    clean: bool
    findings: list[dict]
    notes: list[str]
    documents: int
    events: int
    chained_events: int
    legacy_events: int
    signatures_checked: int  # key signatures verified (run heads, or all with --all-signatures)
    electronic_signatures: int  # signature records (authorship, review, approval ...) in the chain
    keys: list[dict]

    @property
    def exit_code(self) -> int:
        """The CLI exits 1 when anything was found."""
        return 0 if self.clean else 1

    def render(self) -> str:
        lines = [f"{f['doc_id']}: {f['kind']}: {f['message']}"
                 + (f" ({f['where']})" if f.get("where") else "") for f in self.findings]
        lines += [f"note: {n}" for n in self.notes]
        verdict = "CLEAN" if self.clean else f"{len(self.findings)} finding(s)"
        lines.append(f"Verified {self.documents} document(s), {self.electronic_signatures} "
                     f"electronic signature(s), {self.chained_events} chained event(s) "
                     f"({self.legacy_events} legacy), {self.signatures_checked} key "
                     f"signature(s) checked: {verdict}")
        return "\n".join(lines)


class _Check:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.findings: list[dict] = []
        self.notes: list[str] = []
        self.chain_docs: dict[str, list[tuple[int, str]]] = {}
        self.signatures = 0
        self.events = self.chained = self.legacy = self.esignatures = 0
        self.legacy_docs = self.unverified = 0
        self.anchor: dict[str, str] | None = None
        self.archives: dict[str, list[tuple[str, str]]] = {}  # verify_files.scan

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
        root = str(self.project.root) + os.sep
        return path[len(root):] if path.startswith(root) else path

    def find(self, doc_id: str, kind: str, message: str, where: str = "", **extra: Any) -> None:
        self.findings.append({"doc_id": doc_id, "kind": kind, "message": message,
                              "where": where, **extra})


def verify(project: Project, user: str, *, doc_ids: list[str] | None = None,
           all_signatures: bool = False, since: str | None = None) -> VerifyResult:
    authorize(project, user, "verify")
    if since is not None:
        verify_git.check_ref(since)
    # hold the project lock so no commit is half-applied while we read; a read-only copy
    # (e.g. the container's mount: nobody can write it) is read as it is
    lock = transaction.project_lock(project.state_dir / "lock")
    try:
        lock.__enter__()
    except OSError:
        lock = None
    try:
        return _verify(project, doc_ids, all_signatures, since)
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)


def _verify(project: Project, doc_ids: list[str] | None, all_signatures: bool,
            since: str | None = None) -> VerifyResult:
    check = _Check(project)
    wanted = None
    if doc_ids:
        wanted = {d if d.lower() == PROJECT else doctypes.normalize_id(d) for d in doc_ids}
    key_events = _project_key_events(project)
    keyring = _keyring(check, key_events)
    _check_chain(check, keyring, key_events, all_signatures)
    verify_git.check(check, lambda: _read_bytes(chain.chain_path(project)) or b"", since)
    check.anchor = _legacy_anchor(check, key_events)
    docs = _all_docs(project) | set(check.chain_docs) | set(check.anchor or ())
    if wanted is not None:
        for doc_id in sorted(wanted - docs):
            check.find(doc_id, "missing", "no such document, audit trail or chain entry")
        docs &= wanted
    check.archives = verify_files.scan(check, docs, full=wanted is None)
    _check_docs(check, sorted(docs))
    from qms.operations import verify_passkeys

    verify_passkeys.check(check, sorted(docs))
    if wanted is None or PROJECT in wanted:
        verify_state.check_project(check)
    if check.legacy:
        check.notes.append(
            f"{check.legacy} event(s) in {check.legacy_docs} trail(s) were written by the "
            "earlier tool without chain fields; their content cannot be verified" + (
                ", but they are exactly the lines that were there when this project's first "
                "signing key was made." if check.anchor is not None else
                " (the project has no signing key yet)."))
    if check.unverified:
        check.notes.append(f"{check.unverified} document file(s) left by the earlier tool are "
                           "not bound to a chained event and cannot be checked")
    for key_id, info in keyring.items():
        check.notes.append(f"key {key_id} introduced at seq {info['seq']} by "
                           f"{info['user']} ({info['how']})")
    return VerifyResult(
        clean=not check.findings, findings=check.findings, notes=check.notes,
        documents=len(docs - {PROJECT}), events=check.events, chained_events=check.chained,
        legacy_events=check.legacy, signatures_checked=check.signatures,
        electronic_signatures=check.esignatures,
        keys=[{"key_id": k, **v} for k, v in keyring.items()])


# -- legacy trails -----------------------------------------------------------------------
def _legacy_anchor(check: _Check, key_events: list[dict]) -> dict[str, str] | None:
    """doc_id -> hash of its trail's lines when the project's first key was made (None:
    no key yet, so nothing is anchored)."""
    first = next((e for e in key_events if e.get("event") == "KEY_CREATE"), None)
    if first is None or "legacy_sha256" not in first:
        return None
    path = chain.legacy_path(check.project)
    data = _read_bytes(path)
    where = check.rel(str(path))
    if data is None or integrity.sha256_bytes(data) != first["legacy_sha256"]:
        check.find(PROJECT, "legacy_anchor", "the record of the earlier tool's trails made "
                   "with the first key is missing or changed", where)
        return {}
    try:
        anchor = _parse(data)
    except ValueError:
        anchor = None
    return anchor if isinstance(anchor, dict) else {}


# -- keys ------------------------------------------------------------------------------
def _project_key_events(project: Project) -> list[dict]:
    data = _read_bytes(chain.project_trail(project)) or b""
    found = []
    for line in integrity.lines_of(data):
        if b'"KEY_' not in line:
            continue
        try:
            event = _parse(line)
        except ValueError:
            continue  # reported with the project trail
        if isinstance(event, dict) and event.get("event") in ("KEY_CREATE", "KEY_ROTATE") \
                and integrity.is_chained(event):
            found.append(event)
    return found


def _keyring(check: _Check, key_events: list[dict]) -> dict[str, dict]:
    """key_id -> {seq, user, how, public_key} for every key the chain introduces; the public
    key files in QMS/.keys must agree with it."""
    files = keys.public_keys(check.project)
    ring: dict[str, dict] = {}
    for e in key_events:
        key_id = str(e.get("key_id"))
        if e["event"] == "KEY_CREATE" and ring:
            check.find(PROJECT, "key", f"a second first key {key_id} was created at seq "
                       f"{e['seq']}", "QMS/.audit/project.jsonl")
        how = "first key" if e["event"] == "KEY_CREATE" else (
            f"rotated from {e.get('previous_key_id')}, vouched for by it" if e.get("endorsed")
            else "started without the previous key")
        ring[key_id] = {"seq": e["seq"], "user": e.get("user"), "how": how,
                        "public_key": e.get("public_key"), "endorsed": bool(e.get("endorsed")),
                        "event": e["event"], "previous_key_id": e.get("previous_key_id")}
        record = files.get(key_id)
        if record is None:
            check.find(PROJECT, "key", f"public key file of key {key_id} is missing",
                       f"QMS/.keys/{key_id}.pub")
        elif record.get("public_key") != e.get("public_key"):
            check.find(PROJECT, "key", f"public key file of key {key_id} does not match the "
                       "key recorded in the audit chain", f"QMS/.keys/{key_id}.pub")
    return ring


# -- the project chain -------------------------------------------------------------------
def _check_chain(check: _Check, ring: dict[str, dict], key_events: list[dict],
                 all_signatures: bool) -> None:
    where = "QMS/.audit/chain.jsonl"
    data = _read_bytes(chain.chain_path(check.project))
    if data is None:
        return
    lines = integrity.lines_of(data)
    entries: list[dict] = []
    prev_hash: str | None = None
    prev_doc = PROJECT
    for n, line in enumerate(lines, 1):
        try:
            entry = _entry(line)
            seq, doc_id, event_sha = entry["seq"], str(entry["doc_id"]), entry["event_sha256"]
        except (ValueError, KeyError, TypeError):
            check.find(prev_doc, "chain", f"chain line {n} is damaged (edited outside qms)",
                       f"{where}:{n}")
            entries.append({})
            prev_hash = integrity.sha256_bytes(line)
            continue
        if seq != n:
            check.find(doc_id, "chain", f"chain entry {n} has seq {seq}: entries were "
                       "inserted, removed or reordered", f"{where}:{n}")
        if entry.get("prev_sha256") != prev_hash:
            check.find(prev_doc, "chain", f"chain entry {n} ({doc_id}) does not link to the "
                       f"entry before it (seq {n - 1}, {prev_doc}): that entry was changed, "
                       "removed or reordered", f"{where}:{n - 1}")
        check.chain_docs.setdefault(doc_id, []).append((seq, event_sha))
        entries.append(entry)
        prev_hash = hashlib.sha256(line).hexdigest()
        prev_doc = doc_id
    _check_signatures(check, entries, ring, all_signatures, where)


def _check_signatures(check: _Check, entries: list[dict], ring: dict[str, dict],
                      all_signatures: bool, where: str) -> None:
    verifiers: dict[str, Any] = {}

    def valid(entry: dict) -> bool:
        key_id = entry.get("key_id")
        info = ring.get(key_id)
        if info is None or not isinstance(info.get("public_key"), str):
            return False
        if key_id not in verifiers:
            try:
                verifiers[key_id] = keys.verifier(info["public_key"])
            except ValueError:
                verifiers[key_id] = lambda sig, msg: False
        check.signatures += 1
        message = integrity.chain_message(entry["seq"], str(entry["doc_id"]),
                                          entry["event_sha256"], entry.get("prev_sha256"),
                                          str(key_id))
        return isinstance(entry.get("sig"), str) and verifiers[key_id](entry["sig"], message)

    run_start = 0
    for i, entry in enumerate(entries):
        if not entry:
            continue
        key_id = entry.get("key_id")
        info = ring.get(key_id)
        if info is None:
            if i == run_start:  # once per run of entries naming that key
                check.find(str(entry["doc_id"]), "signature", f"chain entry {entry['seq']} "
                           f"(and those after it up to the next key) is signed by unknown key "
                           f"{key_id}", f"{where}:{i + 1}")
        elif i == run_start and (entry["seq"] < info["seq"]
                                 or (entry["seq"] == info["seq"] and info["endorsed"])):
            check.find(str(entry["doc_id"]), "signature", f"chain entry {entry['seq']} is "
                       f"signed by key {key_id}, introduced only at seq {info['seq']}",
                       f"{where}:{i + 1}")
        last_of_run = i + 1 == len(entries) or entries[i + 1].get("key_id") != key_id
        if all_signatures or last_of_run:
            if not valid(entry):
                bad = entry
                if not all_signatures:  # trace the run to its first bad signature
                    bad = next((e for e in entries[run_start:i + 1] if e and not valid(e)),
                               entry)
                check.find(str(bad["doc_id"]), "signature",
                           f"chain entry {bad['seq']} does not carry a valid signature of "
                           f"key {bad.get('key_id')}: it was forged or changed without the key",
                           f"{where}:{bad['seq']}")
        if last_of_run:
            run_start = i + 1
    for key_id, info in ring.items():
        if info["event"] == "KEY_ROTATE" and not info["endorsed"]:
            check.find(PROJECT, "key_unendorsed",
                       f"key {key_id} was started at seq {info['seq']} by {info['user']} "
                       "without the previous key: events from then on rest only on that "
                       "person's word (check it against git history)", "QMS/.audit/project.jsonl")


# -- documents ---------------------------------------------------------------------------
_COUNTERS = ("events", "chained", "legacy", "legacy_docs", "unverified", "esignatures")


def _check_docs(check: _Check, doc_ids: list[str]) -> None:
    """Check every document; a large project is split with one more process per CPU
    (started with spawn, which is safe in the multi-threaded MCP server)."""
    workers = min(os.cpu_count() or 1, 4) - 1
    if workers < 1 or len(doc_ids) < PARALLEL_FROM:
        for doc_id in doc_ids:
            _check_doc(check, doc_id)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(doc_ids) // (workers + 1))
    chunks = [doc_ids[i:i + size] for i in range(0, len(doc_ids), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        anchor = check.anchor
        futures = [pool.submit(_check_chunk, str(check.project.root), chunk,
                               {d: check.chain_docs.get(d, []) for d in chunk},
                               None if anchor is None else
                               {d: anchor[d] for d in chunk if d in anchor},
                               {d: check.archives.get(d, []) for d in chunk})
                   for chunk in chunks[1:]]
        for doc_id in chunks[0]:
            _check_doc(check, doc_id)
        for future in futures:
            findings, counters = future.result()
            check.findings += findings
            for name, value in zip(_COUNTERS, counters):
                setattr(check, name, getattr(check, name) + value)


def _check_chunk(root: str, doc_ids: list[str], chain_docs: dict[str, list],
                 anchor: dict[str, str] | None,
                 archives: dict[str, list]) -> tuple[list[dict], list[int]]:
    """Worker: check some documents against their chain entries."""
    check = _Check(Project(Path(root)))
    check.chain_docs, check.anchor, check.archives = chain_docs, anchor, archives
    for doc_id in doc_ids:
        _check_doc(check, doc_id)
    return check.findings, [getattr(check, name) for name in _COUNTERS]


def _all_docs(project: Project) -> set[str]:
    """Every document with a trail or a meta file."""
    return set(chain.trails(project)) | set(chain.doc_files(project.qms / ".meta", ".json"))


def _read_bytes(path: Path | str) -> bytes | None:
    """A file's bytes, or None when it is absent. A link or a special file planted in its
    place is refused (ProjectError, atomic.open_regular), never followed or waited on."""
    opened = atomic.open_regular(path)
    if opened is None:
        return None
    fd, info = opened
    try:
        size = info.st_size
        data = os.read(fd, size + 1)
        if len(data) <= size:  # short read, or the file grew: read to the end
            chunks = [data]
            while chunks[-1]:
                chunks.append(os.read(fd, 1 << 20))
            data = b"".join(chunks)
        return data
    finally:
        os.close(fd)


def _check_doc(check: _Check, doc_id: str) -> None:
    """Check one document; a link or special file among its files is itself a finding."""
    try:
        _check_doc_files(check, doc_id)
    except ProjectError as err:
        path = err.details.get("path", "")
        check.find(doc_id, "not_a_file", err.message, check.rel(path) if path else "")


def _check_doc_files(check: _Check, doc_id: str) -> None:
    try:
        files = check.files(doc_id)
    except QMSError:  # not a valid document ID (e.g. a stray file name)
        check.find(doc_id, "unknown", "a file or chain entry names an invalid document ID")
        return
    where = check.rel(files["trail"])
    data = _read_bytes(files["trail"])
    expected = check.chain_docs.get(doc_id, [])
    if data is None:
        if expected:
            check.find(doc_id, "missing", f"the audit trail is gone but the chain has "
                       f"{len(expected)} event(s) of this document (deleted or rolled back)",
                       where)
        elif check.anchor and doc_id in check.anchor:
            check.find(doc_id, "missing", "the trail of the earlier tool recorded with the "
                       "project's first signing key is gone (deleted)", where)
        if doc_id != PROJECT and os.path.exists(files["meta"]):
            check.find(doc_id, "meta", "metadata without an audit trail", where)
        return
    events = _check_trail(check, doc_id, data, where, expected)
    if doc_id != PROJECT and events is not None:
        _check_state(check, doc_id, files, events)
        verify_files.check_content(check, doc_id, files, events, check.archives.get(doc_id, []))


def _check_trail(check: _Check, doc_id: str, data: bytes, where: str,
                 expected: list[tuple[int, str]]) -> list[dict] | None:
    lines = integrity.lines_of(data)
    events: list[dict] = []
    got: list[tuple[int, str]] = []
    prev: str | None = None
    seen_chained = False
    legacy = 0
    prefix = len(lines)  # lines before the first chained event
    damaged = flagged = False
    for n, line in enumerate(lines, 1):
        line_sha = hashlib.sha256(line).hexdigest()  # OpenSSL's: faster over many lines
        try:
            event = _parse(line)
            if not isinstance(event, dict):
                raise ValueError
        except ValueError:
            check.find(doc_id, "damaged", f"line {n} is not a JSON event (edited outside qms)",
                       f"{where}:{n}")
            damaged = True
            prev = line_sha
            continue
        if integrity.is_chained(event):
            if event.get("prev_sha256") != prev:
                check.find(doc_id, "trail", f"event {n} ({event.get('event')}, seq "
                           f"{event.get('seq')}) does not link to the line before it: events "
                           "were edited, inserted, removed or reordered", f"{where}:{n}")
            if not seen_chained:
                prefix = n - 1
                if n > 1 and event.get("prefix_sha256") != integrity.prefix_sha256(lines[:n - 1]):
                    check.find(doc_id, "legacy_prefix", "the events written by the earlier "
                               "tool were changed after this trail's first chained event "
                               "anchored them", f"{where}:1-{n - 1}")
                    flagged = True
            seen_chained = True
            got.append((event["seq"], line_sha))
            check.chained += 1
            check.esignatures += bool(event.get("meaning"))
        else:
            if seen_chained:
                check.find(doc_id, "trail", f"event {n} has no chain fields but follows chained "
                           "events: it was added outside qms", f"{where}:{n}")
            legacy += 1
        events.append(event)
        prev = line_sha
    check.events += len(events)
    if legacy:
        check.legacy += legacy
        check.legacy_docs += 1
    if prefix and check.anchor is not None and not flagged:
        _check_anchored(check, doc_id, lines[:prefix], where)
    _compare_with_chain(check, doc_id, got, expected, where)
    return None if damaged else events


def _check_anchored(check: _Check, doc_id: str, prefix: list[bytes], where: str) -> None:
    """Lines of the earlier tool must be exactly those there when the first key was made."""
    known = check.anchor.get(doc_id)
    if known is None:
        check.find(doc_id, "legacy", f"{len(prefix)} line(s) without chain fields that were "
                   "not there when the project's first signing key was made: written outside "
                   "qms", f"{where}:1-{len(prefix)}")
    elif integrity.prefix_sha256(prefix) != known:
        check.find(doc_id, "legacy_prefix", "the events written by the earlier tool changed "
                   "after the project's first signing key recorded them", f"{where}:1-{len(prefix)}")


def _compare_with_chain(check: _Check, doc_id: str, got: list[tuple[int, str]],
                        expected: list[tuple[int, str]], where: str) -> None:
    if got == expected:
        return
    chain_hash = dict(expected)
    for seq, sha in got:
        if seq not in chain_hash:
            check.find(doc_id, "not_in_chain", f"event seq {seq} is not in the project chain "
                       "for this document: forged, copied or replayed", where)
        elif chain_hash[seq] != sha:
            check.find(doc_id, "changed", f"event seq {seq} differs from the hash the chain "
                       "recorded: it was edited", where)
    have = {seq for seq, _ in got}
    missing = [seq for seq, _ in expected if seq not in have]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        check.find(doc_id, "missing", f"{len(missing)} event(s) recorded in the chain are not "
                   f"in the trail (seq {shown}): removed, or the document was rolled back",
                   where)
    order = [seq for seq, _ in got if seq in chain_hash]
    if order != sorted(order) or len(set(order)) != len(order):
        check.find(doc_id, "order", "events are out of order or repeated", where)


def _check_state(check: _Check, doc_id: str, files: dict[str, str],
                 events: list[dict]) -> None:
    chained = [e for e in events if integrity.is_chained(e)]
    meta_text = _read_bytes(files["meta"])
    if meta_text is None:
        if events and events[-1].get("event") != "CANCEL":
            check.find(doc_id, "meta", "metadata is missing but the trail does not end with "
                       "CANCEL (deleted)", check.rel(files["meta"]))
        return
    try:
        meta = _parse(meta_text)
        if not isinstance(meta, dict):
            raise ValueError
    except ValueError:
        check.find(doc_id, "meta", "metadata is not valid JSON", check.rel(files["meta"]))
        return
    if not chained:
        return
    reported = len(check.findings)
    _check_replay(check, doc_id, files, meta, events)
    verify_state.check_meta(check, doc_id, check.rel(files["meta"]), meta, events, reported,
                            meta_text)


def _check_replay(check: _Check, doc_id: str, files: dict[str, str], meta: dict,
                  events: list[dict]) -> None:
    state = integrity.replay(events, meta.get("doc_type") or doctypes.type_of(doc_id))
    reliable = {"version": integrity.is_chained(events[-1])}
    setters = [e for e in events if e.get("event") in ("STATUS_CHANGE", "CREATE", "CANCEL")]
    reliable["status"] = bool(setters) and integrity.is_chained(setters[-1])
    reliable["checked_out"] = reliable["responsible_user"] = all(
        integrity.is_chained(e) for e in events)
    where = check.rel(files["meta"])
    for key, ok in reliable.items():
        if ok and key in state and state[key] != meta.get(key):
            check.find(doc_id, "meta", f"{key} is {meta.get(key)!r} but the audit trail says "
                       f"{state[key]!r}", where, field=key)
