"""``qms verify``: the project chain and its keys (docs/integrity.md).

* keys: every key the chain introduces (``KEY_CREATE``, ``KEY_ROTATE``), its public key file
  in ``QMS/.keys/`` agreeing with it; a key started without the previous one is reported;
* the chain (``QMS/.audit/chain.jsonl``): consecutive ``seq``, every entry linked to the
  previous one by hash, signatures by known keys introduced before use; the last entry
  signed by each key is verified (it vouches for every entry before it through the hash
  links), every signature with ``all_signatures``; a bad one is traced to the first entry
  that fails;
* the record of the earlier tool's trails made with the first key (``legacy.json``).
"""

from __future__ import annotations

import hashlib
import re
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from qms.domain import integrity
from qms.operations.verify import git
from qms.operations.verify.check import HASH, NOT_A_HASH, PROJECT, Check, parse
from qms.store import chain, keys
from qms.store.users import TRAIL
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Callable

# a chain line exactly as qms writes it (anything else goes through the JSON parser)
_ENTRY_RE = re.compile(r'\{"seq": ([1-9][0-9]*), "doc_id": "([A-Za-z0-9_-]+)", '
                       r'"event_sha256": "([0-9a-f]{64})", "prev_sha256": (?:"([0-9a-f]{64})"|null), '
                       r'"key_id": "([0-9a-f]+)", "sig": "([0-9a-f]+)"\}')


def _entry(line: bytes) -> Any:
    try:
        m = _ENTRY_RE.fullmatch(line.decode("ascii"))
    except UnicodeDecodeError:
        m = None
    if m is None:
        return parse(line)
    return {"seq": int(m[1]), "doc_id": m[2], "event_sha256": m[3], "prev_sha256": m[4],
            "key_id": m[5], "sig": m[6]}


# A chain exactly as qms writes it, read in bulk (:func:`_regular`): every line is this
# frame, with the key ID (16 hex digits) and the signature (128) of qms's keys; the first
# line has "prev_sha256": null.
_LINE = (b'{"seq": %d, "doc_id": "%s", "event_sha256": "%s", "prev_sha256": "%s", '
         b'"key_id": "%s", "sig": "%s"}')
_FIRST = _LINE.replace(b'"prev_sha256": "%s"', b'"prev_sha256": null')
_QUOTES = _LINE.count(b'"')  # per line (the first has two fewer)
# where the values are, from the end of a line: ..."event_sha256": "E", "prev_sha256": "P",
# "key_id": "K", "sig": "S"}
_SIG = slice(-130, -2)
_KEY = slice(-157, -141)
_PREV = slice(-235, -171)
_EVENT = slice(-318, -254)
_TAIL = 338  # the doc ID ends this far from the end
_PRINTABLE = bytes(range(0x20, 0x7f)) + b"\n"


def _regular(data: bytes) -> tuple[list[bytes], list[str], list[str], list[str]] | None:
    """``(lines, doc IDs, event hashes, key IDs)`` of a chain every line of which is exactly
    as qms writes it (the frame above; printable ASCII, no quote or backslash in a value, so
    each value is what the JSON parser reads), numbered 1, 2, 3 ... and linked to the line
    before it: a chain in which :func:`_read` would find nothing. None for anything else,
    which is then read line by line. Bulk operations over the whole file, no per-line
    parsing (a 10,000-document chain has 216,000 lines)."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    n = len(lines)
    if not n or b"\\" in data or data.translate(None, _PRINTABLE) \
            or data.count(b'"') != _QUOTES * n - 2:
        return None
    try:
        first = _entry(lines[0])
        head = [first[k].encode() for k in ("doc_id", "event_sha256", "key_id", "sig")]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    rest = lines[1:]
    events = list(map(itemgetter(_EVENT), rest))
    keys = list(map(itemgetter(_KEY), rest))
    prevs = list(map(itemgetter(_PREV), rest))
    docs = list(map(bytes.__getitem__, rest, map(slice, _doc_starts(2, n), repeat(-_TAIL))))
    sigs = list(map(itemgetter(_SIG), rest))
    if _FIRST % (1, *head) != lines[0] or list(map(_LINE.__mod__, zip(
            range(2, n + 1), docs, events, prevs, keys, sigs))) != rest:
        return None
    del sigs
    hashes = [hashlib.sha256(line).hexdigest() for line in lines]
    if b"".join(prevs) != "".join(hashes[:-1]).encode():
        return None
    return (lines, [first["doc_id"], *map(bytes.decode, docs)],
            [first["event_sha256"], *map(bytes.decode, events)],
            [first["key_id"], *map(bytes.decode, keys)])


def _doc_starts(low: int, high: int) -> list[int]:
    """Where the doc ID begins on lines ``low`` to ``high``: after ``{"seq": N, "doc_id": "``."""
    starts: list[int] = []
    digits = len(str(low))
    while low <= high:
        last = min(10 ** digits - 1, high)
        starts += [len(b'{"seq": , "doc_id": "') + digits] * (last - low + 1)
        digits, low = digits + 1, last + 1
    return starts


def legacy_anchor(check: Check, key_events: list[dict]) -> dict[str, str] | None:
    """doc_id -> hash of its trail's lines when the project's first key was made (None:
    no key yet, so nothing is anchored)."""
    first = next((e for e in key_events if e.get("event") == "KEY_CREATE"), None)
    if first is None or "legacy_sha256" not in first:
        return None
    path = chain.legacy_path(check.project)
    data = check.read(path)
    where = check.rel(str(path))
    if data is None or integrity.sha256_bytes(data) != first["legacy_sha256"]:
        check.find(PROJECT, "legacy_anchor", "the record of the earlier tool's trails made "
                   "with the first key is missing or changed", where)
        return {}
    try:
        anchor = parse(data)
    except ValueError:
        anchor = None
    return anchor if isinstance(anchor, dict) else {}


# -- keys ------------------------------------------------------------------------------
def key_events(check: Check) -> list[dict]:
    """The project trail's chained KEY_CREATE and KEY_ROTATE events, in order."""
    return [e for e in check.project_events() if e.get("event") in ("KEY_CREATE", "KEY_ROTATE")]


def keyring(check: Check, key_events: list[dict]) -> dict[str, dict]:
    """key_id -> {seq, user, how, public_key} for every key the chain introduces; the public
    key files in QMS/.keys must agree with it."""
    files = keys.public_keys(check.project)
    ring: dict[str, dict] = {}
    for e in key_events:
        key_id = str(e.get("key_id"))
        if e["event"] == "KEY_CREATE" and ring:
            check.find(PROJECT, "key", f"a second first key {key_id} was created at seq "
                       f"{e['seq']}", TRAIL)
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


class _Current:
    """Which key may sign each entry: the one the last key event introduced (the rotation
    entry itself: the previous key when it endorsed the new one)."""

    def __init__(self, ring: dict[str, dict]) -> None:
        self.intros = sorted((info["seq"], key_id) for key_id, info in ring.items())
        self.ring, self.next, self.at = ring, 0, None

    def replaced(self, seq: int, key_id: str) -> tuple[str, int] | None:
        """(the key that replaced ``key_id``, at which seq) when ``key_id`` may no longer
        sign entry ``seq``, else None. Entries come in seq order."""
        while self.next < len(self.intros) and self.intros[self.next][0] <= seq:
            self.at = self.intros[self.next]
            self.next += 1
        if self.at is None:
            return None  # before the first key: reported as a key introduced too late
        intro, current = self.at
        info = self.ring[current]
        allowed = info["previous_key_id"] if intro == seq and info["endorsed"] else current
        if key_id in (allowed, current) or self.ring[key_id]["seq"] > seq:
            return None  # a key from the future is reported as introduced too late
        return current, intro


# -- the project chain -------------------------------------------------------------------
def check_chain(check: Check, data: bytes, ring: dict[str, dict], all_signatures: bool,
                verdicts: Callable[[], list[bool | None]] | None = None) -> None:
    """The chain (``data``, read once by the caller): consecutive, linked, signed.
    ``verdicts``: the signature of every line, checked elsewhere (:func:`signatures_of`)."""
    regular = _regular(data)
    if regular is None:
        entries: Any = _read(check, integrity.lines_of(data))
        turns: Any = range(len(entries))
    else:
        lines, docs, events, keys = regular
        check.chain_docs = _by_doc(range(1, len(lines) + 1), docs, events)
        entries = _Lines(lines)
        turns = range(len(lines)) if all_signatures else _turns(keys, ring)
    _signatures(check, entries, turns, ring, all_signatures,
                verdicts() if verdicts else None)


def checked(root: str, ring: dict[str, dict], since: str | None) -> tuple:
    """The chain, read here once, checked (:func:`check_chain`) and compared with the ones
    committed in git (:mod:`.git`): a task of :mod:`.work`. Returns ``(findings, notes,
    chain_docs, signatures checked)``."""
    check = Check(Project(Path(root)))
    try:
        data = check.read(chain.chain_path(check.project)) or b""
        check_chain(check, data, ring, False)
        git.check(check, data, since)
    finally:
        check.close()
    return check.findings, check.notes, check.chain_docs, check.signatures


def _read(check: Check, lines: list[bytes]) -> list[dict]:
    """Every line's entry ({} where it is damaged), each a finding where it is not the next
    in the chain; sets ``check.chain_docs``."""
    entries: list[dict] = []
    prev_hash: str | None = None
    prev_doc = PROJECT
    seqs, docs, events = [], [], []
    for n, line in enumerate(lines, 1):
        try:
            entry = _entry(line)
            seq, doc_id, event_sha = entry["seq"], str(entry["doc_id"]), entry["event_sha256"]
        except (ValueError, KeyError, TypeError):
            check.find(prev_doc, "chain", f"chain line {n} is damaged (edited outside qms)",
                       f"{_WHERE}:{n}")
            entries.append({})
            prev_hash = integrity.sha256_bytes(line)
            continue
        if seq != n:
            check.find(doc_id, "chain", f"chain entry {n} has seq {seq}: entries were "
                       "inserted, removed or reordered", f"{_WHERE}:{n}")
        if entry.get("prev_sha256") != prev_hash:
            check.find(prev_doc, "chain", f"chain entry {n} ({doc_id}) does not link to the "
                       f"entry before it (seq {n - 1}, {prev_doc}): that entry was changed, "
                       "removed or reordered", f"{_WHERE}:{n - 1}")
        seqs.append(seq)
        docs.append(doc_id)
        events.append(event_sha if type(event_sha) is str and len(event_sha) == HASH
                      else NOT_A_HASH)
        entries.append(entry)
        prev_hash = hashlib.sha256(line).hexdigest()
        prev_doc = doc_id
    check.chain_docs = _by_doc(seqs, docs, events)
    return entries


def _by_doc(seqs: Any, docs: list[str], events: list[str]) -> dict[str, tuple[list, str]]:
    """doc_id -> its entries' ``(seqs, event hashes)`` (:func:`.check.pairs`), in order."""
    grouped: dict[str, tuple[list, list]] = {}
    for seq, doc_id, event_sha in zip(seqs, docs, events):
        found = grouped.get(doc_id)
        if found is None:
            found = grouped[doc_id] = ([], [])
        found[0].append(seq)
        found[1].append(event_sha)
    return {doc_id: (seqs, "".join(hashes)) for doc_id, (seqs, hashes) in grouped.items()}


_WHERE = "QMS/.audit/chain.jsonl"


class _Lines:
    """The entries of a regular chain (:func:`_regular`), each read when it is looked at."""

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, i: int) -> dict:
        return _entry(self._lines[i])


def _turns(keys: list[str], ring: dict[str, dict]) -> list[int]:
    """The entries of a regular chain at which :func:`_signatures` can find anything: the
    first and last of each run of one key, and those at and just after a key's introduction
    (what may sign changes only there). In the others it would find nothing."""
    n = len(keys)
    turns = {0, n - 1}
    if keys.count(keys[0]) != n:
        turns.update(j for i in range(1, n) if keys[i] != keys[i - 1] for j in (i - 1, i))
    turns.update(j for info in ring.values() if isinstance(info["seq"], int)
                 for j in (info["seq"] - 1, info["seq"]) if 0 <= j < n)
    return sorted(turns)


def public_keys(ring: dict[str, dict]) -> dict[str, Any]:
    """key_id -> public key hex of every key the chain introduces (what a worker needs)."""
    return {key_id: info.get("public_key") for key_id, info in ring.items()}


def signatures_of(lines: list[bytes], public: dict[str, Any]) -> list[bool | None]:
    """Worker: whether each chain line carries a valid signature of its key (None: not an
    entry, or a key the chain does not introduce), exactly as :func:`_signatures` decides."""
    verifiers: dict[str, Any] = {}
    found: list[bool | None] = []
    for line in lines:
        try:
            entry = _entry(line)
            entry["seq"], entry["doc_id"], entry["event_sha256"]
        except (ValueError, KeyError, TypeError):
            found.append(None)
            continue
        found.append(_verdict(entry, public, verifiers))
    return found


def _verdict(entry: dict, public: dict[str, Any], verifiers: dict[str, Any]) -> bool | None:
    key_id = entry.get("key_id")
    public_key = public.get(key_id)
    if not isinstance(public_key, str):
        return None
    if key_id not in verifiers:
        try:
            verifiers[key_id] = keys.verifier(public_key)
        except ValueError:
            verifiers[key_id] = lambda sig, msg: False
    message = integrity.chain_message(entry["seq"], str(entry["doc_id"]),
                                      entry["event_sha256"], entry.get("prev_sha256"),
                                      str(key_id))
    return isinstance(entry.get("sig"), str) and verifiers[key_id](entry["sig"], message)


def _signatures(check: Check, entries: Any, turns: Any, ring: dict[str, dict],
                all_signatures: bool, verdicts: list[bool | None] | None) -> None:
    """The keys and signatures of the entries (``turns``: the indices that can matter, in
    order; every one of a chain read line by line)."""
    where = _WHERE
    verifiers: dict[str, Any] = {}
    public = public_keys(ring)

    def valid(i: int) -> bool:
        """Entry ``i``'s signature (counted when there is a key to check it with)."""
        check.signatures += isinstance(public.get(entries[i].get("key_id")), str)
        if verdicts is not None:
            return bool(verdicts[i])
        return bool(_verdict(entries[i], public, verifiers))

    run_start, retired_run = 0, -1
    current = _Current(ring)
    for i in turns:
        entry = entries[i]
        if not entry:
            continue
        key_id = entry.get("key_id")
        info = ring.get(key_id)
        replaced = current.replaced(entry["seq"], key_id) if info is not None else None
        if replaced and retired_run != run_start:
            retired_run = run_start  # once per run of entries naming that key
            check.find(str(entry["doc_id"]), "signature", f"chain entry {entry['seq']} is "
                       f"signed by key {key_id}, which key {replaced[0]} replaced at seq "
                       f"{replaced[1]}: only the current key signs (was .qms/keys/active "
                       "pointed at an old key?)", f"{where}:{i + 1}")
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
            if not valid(i):
                bad = entry
                if not all_signatures:  # trace the run to its first bad signature
                    bad = next((entries[j] for j in range(run_start, i + 1)
                                if entries[j] and not valid(j)), entry)
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
                       "person's word (check it against git history)", TRAIL)
