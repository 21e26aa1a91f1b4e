"""``qms verify [ID ...]``: check the audit chain, its signatures, content hashes and meta.

What is checked (docs/integrity.md explains what it proves and what it does not), one
module each:

* :mod:`.chain`: the project chain and its keys, signatures verified;
* :mod:`.trails`: every trail against the chain (nothing edited, inserted, removed,
  reordered, copied or rolled back; no document deleted);
* :mod:`.files`: every file under ``QMS/`` is accounted for; the draft, the effective file
  and archived versions match the ``content_sha256`` of the events that acted on them;
* :mod:`.git`: the chain committed at HEAD (and ``--since``) is a prefix of today's;
* :mod:`.state`: meta agrees with the state replayed from the trail and is the state the
  last event recorded; tokens and settings are vouched for by signed events;
* :mod:`.passkeys`: every passkey signature re-checked offline.

:mod:`.check` holds what they share: the findings, the one file reader and line parser.
Events of the earlier tool (no chain fields) cannot be checked: they are notes, not findings.
"""

from __future__ import annotations

from qms.domain import doctypes
from qms.operations._shared import Result, authorize
from qms.operations.verify import chain as chain_check, files, git, state, trails
from qms.operations.verify.check import PROJECT, Check
from qms.store import chain, transaction
from qms.store.project import Project


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


def verify(project: Project, user: str, *, doc_ids: list[str] | None = None,
           all_signatures: bool = False, since: str | None = None) -> VerifyResult:
    authorize(project, user, "verify")
    if since is not None:
        git.check_ref(since)
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
    check = Check(project)
    wanted = None
    if doc_ids:
        wanted = {d if d.lower() == PROJECT else doctypes.normalize_id(d) for d in doc_ids}
    key_events = chain_check.key_events(check)
    keyring = chain_check.keyring(check, key_events)
    chain_check.check_chain(check, keyring, key_events, all_signatures)
    git.check(check, lambda: check.read(chain.chain_path(project)) or b"", since)
    check.anchor = chain_check.legacy_anchor(check, key_events)
    docs = _all_docs(project) | set(check.chain_docs) | set(check.anchor or ())
    if wanted is not None:
        for doc_id in sorted(wanted - docs):
            check.find(doc_id, "missing", "no such document, audit trail or chain entry")
        docs &= wanted
    check.archives = files.scan(check, docs, full=wanted is None)
    trails.check_docs(check, sorted(docs))
    from qms.operations.verify import passkeys  # deferred: most projects have none

    passkeys.check(check, sorted(docs))
    if wanted is None or PROJECT in wanted:
        state.check_project(check)
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


def _all_docs(project: Project) -> set[str]:
    """Every document with a trail or a meta file."""
    return set(chain.trails(project)) | set(chain.doc_files(project.qms / ".meta", ".json"))
