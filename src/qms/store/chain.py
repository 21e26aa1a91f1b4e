"""Hash-chained, signed audit events.

Each event line written by :func:`record` carries ``seq`` (its place in the project-wide
chain) and ``prev_sha256`` (the SHA-256 of the previous line of the same trail; the first
event after lines of the earlier tool also carries ``prefix_sha256``, the hash of all of
them). Each event also adds one entry to ``QMS/.audit/chain.jsonl``::

    {"seq", "doc_id", "event_sha256", "prev_sha256", "key_id", "sig"}

where ``prev_sha256`` is the hash of the previous chain line and ``sig`` the Ed25519
signature of :func:`qms.domain.integrity.chain_message`. Both appends are staged in the
operation's transaction, so they commit (or not) with the state change.

Per-append cost is O(1): heads are read from the end of the files once per transaction and
then kept for it (so several events in one transaction chain in order).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from qms.domain import integrity
from qms.errors import ProjectError
from qms.store import atomic, keys
from qms.store.jsonl import last_line
from qms.store.project import Project
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Iterator


def chain_path(project: Project) -> Path:
    return project.qms / ".audit" / "chain.jsonl"


def project_trail(project: Project) -> Path:
    return project.qms / ".audit" / "project.jsonl"


def legacy_path(project: Project) -> Path:
    return project.qms / ".audit" / "legacy.json"


def trails(project: Project) -> dict[str, Path]:
    """doc_id -> audit trail, for every trail on disk (``project`` for project.jsonl)."""
    found = {integrity.PROJECT_TRAIL: project_trail(project)} \
        if project_trail(project).is_file() else {}
    found.update(doc_files(project.qms / ".audit", ".jsonl"))
    return found


def doc_files(base: Path, suffix: str) -> dict[str, Path]:
    """doc_id -> ``{base}/{TYPE}/{doc_id}{suffix}`` for every such file (hidden files and
    a VR's ``.source`` files are not documents)."""
    return {doc_id: Path(path) for doc_id, path in _doc_entries(base, suffix)}


def doc_ids(base: Path, suffix: str) -> set[str]:
    """The IDs of :func:`doc_files` (no path built: ``verify`` lists 10,000s)."""
    return {doc_id for doc_id, _ in _doc_entries(base, suffix)}


def _doc_entries(base: Path, suffix: str) -> Iterator[tuple[str, str]]:
    try:
        folders = [e for e in os.scandir(base) if e.is_dir() and not e.name.startswith(".")]
    except FileNotFoundError:
        return
    for folder in folders:
        for entry in os.scandir(folder.path):
            name = entry.name
            if name.endswith(suffix) and not name.startswith(".") \
                    and not name.endswith(".source" + suffix):
                yield name[:-len(suffix)], entry.path


class _State:
    """What one transaction knows about the chain heads (on disk + its own appends)."""

    def __init__(self) -> None:
        self.trails: dict[Path, str | None] = {}  # trail -> hash of its last line
        self.seq: int | None = None
        self.prev: str | None = None
        self.signer: keys.Signer | None = None


def _state(tx: Transaction) -> _State:
    """The chain state of a transaction, kept on it (it lives exactly as long)."""
    state = getattr(tx, "_qms_chain", None)
    if state is None:
        state = _State()
        tx._qms_chain = state
    return state


def record(tx: Transaction, project: Project, trail: Path, doc_id: str,
           event: dict[str, Any]) -> dict[str, Any]:
    """Chain, sign and stage one event (a dict without chain fields); returns it as written."""
    state = _state(tx)
    if state.signer is None:
        state.signer = _signer(tx, project, state, event.get("user") or "system",
                               event.get("ts") or "")
    if state.seq is None:
        last = last_line(chain_path(project), project.root)
        if last:
            _check_head(project, last, state.signer)
        state.seq = json.loads(last)["seq"] if last else 0
        state.prev = integrity.sha256_bytes(last) if last else None
    event = dict(event)
    if trail in state.trails:
        event["prev_sha256"] = state.trails[trail]
    else:
        last = last_line(trail, project.root)
        event["prev_sha256"] = integrity.sha256_bytes(last) if last else None
        if last is not None and not _chained(last):  # anchor the earlier tool's lines
            event["prefix_sha256"] = integrity.prefix_sha256(
                integrity.lines_of(atomic.read_bytes(trail, project.root) or b""))
    seq = state.seq + 1
    event["seq"] = seq
    line = json.dumps(event, ensure_ascii=False)
    event_sha = integrity.sha256_text(line)
    signer = state.signer
    entry = {"seq": seq, "doc_id": doc_id, "event_sha256": event_sha,
             "prev_sha256": state.prev, "key_id": signer.key_id,
             "sig": signer.sign(integrity.chain_message(seq, doc_id, event_sha, state.prev,
                                                        signer.key_id))}
    entry_line = json.dumps(entry)
    _HEADS[str(chain_path(project))] = (entry_line.encode(), signer.key_id)
    tx.append_line(trail, line)
    tx.append_line(chain_path(project), entry_line)
    state.trails[trail] = event_sha
    state.seq, state.prev = seq, integrity.sha256_text(entry_line)
    return event


def _signer(tx: Transaction, project: Project, state: _State, user: str,
            ts: str) -> keys.Signer:
    signer = keys.active_signer(project, tx)
    if signer is not None:
        return signer
    if keys.has_public_keys(project):
        raise ProjectError(
            "This copy of the project has no signing key (.qms/keys/ is missing or has no "
            "active key), so no change can be recorded. Copy the key from the original "
            "machine (.qms/keys/, mode 0600), or have an administrator start a new one: "
            "qms --user lead key rotate --without-previous-key (verify will report it).")
    # a project that never had a key (new, or written by the earlier tool): its first key,
    # and the hash of every trail the earlier tool left, so none can change or appear later
    anchor = {doc_id: integrity.prefix_sha256(
        integrity.lines_of(atomic.read_bytes(path, project.root) or b""))
        for doc_id, path in sorted(trails(project).items())}
    anchor_text = json.dumps(anchor, indent=0, sort_keys=True) + "\n"
    tx.write_text(legacy_path(project), anchor_text)
    signer, public_hex = keys.new_key(tx, project, user, ts)
    state.signer = signer
    record(tx, project, project_trail(project), integrity.PROJECT_TRAIL,
           {"ts": ts, "event": "KEY_CREATE", "user": user, "key_id": signer.key_id,
            "algorithm": keys.ALGORITHM, "public_key": public_hex,
            "legacy_trails": len(anchor), "legacy_sha256": integrity.sha256_text(anchor_text),
            "comment": "first signing key of this project"})
    return signer


_HEADS: dict[str, tuple[bytes, str]] = {}  # chain file -> (line, key) this process signed or checked


def _check_head(project: Project, line: bytes, signer: keys.Signer) -> None:
    """Refuse to extend a chain whose last entry is not validly signed: signing over a line
    written outside qms would vouch for it (verify checks the last entry of each key's run).
    A line that is byte for byte one this process signed, or checked, with the key it signs
    with is known to be good (checking the same bytes with the same key gives the same
    answer): the authority, which commits one change after another, checks no signature
    twice."""
    chain = str(chain_path(project))
    if _HEADS.get(chain) == (line, signer.key_id):
        return
    try:
        entry = json.loads(line)
        message = integrity.chain_message(entry["seq"], entry["doc_id"], entry["event_sha256"],
                                          entry["prev_sha256"], entry["key_id"])
        if entry["key_id"] == signer.key_id:
            good = signer.verify(entry["sig"], message)
            if good:
                _HEADS[chain] = (line, signer.key_id)
        else:
            public = keys.public_keys(project).get(entry["key_id"])
            good = public is not None and keys.verifier(public["public_key"])(entry["sig"],
                                                                             message)
    except (ValueError, KeyError, TypeError, AttributeError):
        good = False
    if not good:
        raise ProjectError(
            f"The last entry of the audit chain ({project.rel(chain_path(project))}) is not "
            "validly signed by a key of this project: it was written outside qms. Nothing was "
            "changed. Run 'qms verify' to see it; restore the chain and the trails from "
            "version control.")


def rotate(tx: Transaction, project: Project, user: str, ts: str,
           without_previous: bool, seed: bytes | None = None) -> tuple[str, str | None]:
    """Start a new key (``seed``: import an existing private key as the new one). The
    rotation event is signed by the previous key (which so vouches for the new one) when
    this copy has it; without it, only ``without_previous`` or an import goes on (and
    verify reports the unendorsed key). Returns (new key_id, previous key_id)."""
    state = _state(tx)
    previous = keys.active_signer(project, tx)
    if previous is None and not without_previous and seed is None:
        raise ProjectError(
            "This copy of the project has no signing key (.qms/keys/), so the new key cannot "
            "be vouched for by the current one. Copy the key from the original machine, or "
            "pass --without-previous-key (verify will report the unendorsed key).")
    if seed is not None:
        _importable(project, seed)
    new, public_hex = keys.new_key(tx, project, user, ts, seed)
    state.signer = previous if previous is not None else new
    record(tx, project, project_trail(project), integrity.PROJECT_TRAIL,
           {"ts": ts, "event": "KEY_ROTATE", "user": user, "key_id": new.key_id,
            "algorithm": keys.ALGORITHM, "public_key": public_hex,
            "previous_key_id": previous.key_id if previous else None,
            "endorsed": previous is not None, **({"imported": True} if seed else {})})
    state.signer = new
    return new.key_id, previous.key_id if previous else None


def _importable(project: Project, seed: bytes) -> None:
    """Refuse to import a key the project already knows (a public key file or a key event
    names it): a key is introduced once."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key_id = keys.key_id_of(Ed25519PrivateKey.from_private_bytes(seed).public_key()
                            .public_bytes(Encoding.Raw, PublicFormat.Raw))
    trail = atomic.read_bytes(project_trail(project), project.root) or b""
    if key_id in keys.public_keys(project) or f'"key_id": "{key_id}"'.encode() in trail:
        raise ProjectError(f"Key {key_id} is already in this project's keyring "
                           "(qms key list): a key is introduced once. Nothing was changed.")


def _chained(line: bytes) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "seq" in value
