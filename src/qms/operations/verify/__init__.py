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
* :mod:`.passkeys`: every passkey signature re-checked offline, every enrollment against
  its invite, every signature the passkey policy covered carries one;
* :mod:`.users`: the agent files against the signed user registry;
* :mod:`.code`: the project's repository (``main``, release tags, branches) against the
  chain, when the project has a system (alone: ``--code``).

:mod:`.check` holds what they share: the findings, the one file reader and line parser.
Events of the earlier tool (no chain fields) cannot be checked: they are notes, not findings.
"""

from __future__ import annotations

import gc

from qms.domain import doctypes, integrity
from qms.operations._shared import Result, authorize
from qms.errors import ProjectError
from qms.operations.verify import (chain as chain_check, code as code_check, files, git,
                                   passkeys, state, trails, users, work)
from qms.operations.verify.check import COUNTERS, PROJECT, Check
from qms.store import chain, transaction
from qms.store.users import validate_name
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
    code: bool = False  # --code: the repository against the chain, no document checked

    @property
    def exit_code(self) -> int:
        """The CLI exits 1 when anything was found."""
        return 0 if self.clean else 1

    def render(self) -> str:
        lines = [f"{f['doc_id']}: {f['kind']}: {f['message']}"
                 + (f" ({f['where']})" if f.get("where") else "") for f in self.findings]
        lines += [f"note: {n}" for n in self.notes]
        verdict = "CLEAN" if self.clean else f"{len(self.findings)} finding(s)"
        if self.code:
            lines.append(f"Verified the repository against the signed chain "
                         f"({self.chained_events} chained event(s), {self.signatures_checked} "
                         f"key signature(s) checked): {verdict}")
            return "\n".join(lines)
        lines.append(f"Verified {self.documents} document(s), {self.electronic_signatures} "
                     f"electronic signature(s), {self.chained_events} chained event(s) "
                     f"({self.legacy_events} legacy), {self.signatures_checked} key "
                     f"signature(s) checked: {verdict}")
        return "\n".join(lines)


def verify(project: Project, user: str, *, doc_ids: list[str] | None = None,
           all_signatures: bool = False, since: str | None = None,
           code: bool = False) -> VerifyResult:
    """``code``: only the chain and the project's repository against it (:mod:`.code`);
    without ``doc_ids`` the repository is checked too when the project has a system."""
    try:
        authorize(project, user, "verify")
    except ProjectError:  # a damaged user registry: anyone may verify, and verify names it
        validate_name(user)
    if code and doc_ids:
        from qms.errors import UsageError

        raise UsageError("verify --code checks the repository, not documents: give no ID.")
    if since is not None:
        from qms.store.git import check_ref

        check_ref(since)
    # hold the project lock so no commit is half-applied while we read; a read-only copy
    # (e.g. the container's mount: nobody can write it) is read as it is
    lock = transaction.project_lock(project.state_dir / "lock")
    try:
        lock.__enter__()
    except OSError:
        lock = None
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived objects, no cycles: collecting costs ~10% here
    try:
        check = Check(project)
        try:
            if lock is not None:
                code_check.recover(check)  # a merge killed midway, finished or undone first
            if code:
                return _code(check, all_signatures)
            return _run(check, doc_ids, all_signatures, since)
        finally:
            check.close()
    finally:
        if collecting:
            gc.enable()
        if lock is not None:
            lock.__exit__(None, None, None)


def _code(check: Check, all_signatures: bool) -> VerifyResult:
    """``--code``: the chain (its links and signatures vouch for every event), then the
    repository."""
    key_events = chain_check.key_events(check)
    keyring = chain_check.keyring(check, key_events)
    data = check.read(chain.chain_path(check.project)) or b""
    chain_check.check_chain(check, data, keyring, all_signatures)
    code_check.check(check)
    check.chained = len(integrity.lines_of(data))
    result = _result(check, keyring, 0)
    result.code = True
    return result


def _run(check: Check, doc_ids: list[str] | None, all_signatures: bool,
         since: str | None) -> VerifyResult:
    """Every check, each file read once: the tasks that need no chain (documents, chain
    signatures) go to the workers first (:mod:`.work`); the chain and the walk of the tree
    run here meanwhile. Findings come in the same order however the work was split."""
    project = check.project
    wanted = None
    if doc_ids:
        wanted = {d if d.lower() == PROJECT else doctypes.normalize_id(d) for d in doc_ids}
    key_events = chain_check.key_events(check)
    keyring = chain_check.keyring(check, key_events)
    check.signing = passkeys.Policy(check.project_events()).ever  # signatures it covers too
    found = check.findings  # the keys' findings come first; each later part is kept apart
    check.findings = anchor_found = []
    check.anchor = chain_check.legacy_anchor(check, key_events)
    on_disk = _all_docs(project) | set(check.anchor or ())
    mine = sorted(on_disk if wanted is None else on_disk & wanted)
    data = (check.read(chain.chain_path(project)) or b"") if all_signatures else b""
    lines = integrity.lines_of(data)
    signing = len(lines) >= SIGNATURES_PARALLEL_FROM
    jobs = work.Work(work.processes() - 1 if signing or len(mine) >= PARALLEL_FROM else 0)
    try:
        signed = [jobs.submit(chain_check.signatures_of, piece, chain_check.public_keys(keyring))
                  for piece in _pieces(lines, SIGNATURES_PER_TASK)] if signing else []
        # without every signature the chain needs nothing from the other tasks: a task too
        chained = None if all_signatures else jobs.submit(
            chain_check.checked, str(project.root), keyring, since)
        check.findings = walked = []
        check.archives = files.scan(check, set(mine), full=wanted is None)
        reports = [jobs.submit(trails.check_docs, str(project.root), part,
                               _only(check.anchor, part),
                               {d: check.archives[d] for d in part if d in check.archives},
                               check.signing)
                   for part in _pieces(mine, DOCS_PER_TASK)]
        check.findings = found
        if chained is None:  # read once here: lines for the signatures, bytes for git
            chain_check.check_chain(check, data, keyring, all_signatures, verdicts=(
                lambda: [v for n in signed for v in jobs.result(n)]) if signed else None)
            git.check(check, data, since)
        else:
            findings, notes, check.chain_docs, signatures = jobs.result(chained)
            found += findings
            check.notes += notes
            check.signatures += signatures
        found += anchor_found
        docs = on_disk | set(check.chain_docs)
        if wanted is not None:
            for doc_id in sorted(wanted - docs):
                check.find(doc_id, "missing", "no such document, audit trail or chain entry")
            docs &= wanted
        found += files.settle(walked, check.chain_docs)
        by_doc = {report[0]: report for n in reports for report in _gathered(check, jobs, n)}
        signed_events = _merge(check, sorted(docs), by_doc)
    finally:
        jobs.close()
    passkeys.check(check, signed_events, PROJECT in docs)
    if wanted is None or PROJECT in wanted:
        state.check_project(check)
        users.check(check)
    if wanted is None:
        code_check.check(check)
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
    return _result(check, keyring, len(docs - {PROJECT}))


def _result(check: Check, keyring: dict[str, dict], documents: int) -> VerifyResult:
    for key_id, info in keyring.items():
        check.notes.append(f"key {key_id} introduced at seq {info['seq']} by "
                           f"{info['user']} ({info['how']})")
    return VerifyResult(
        clean=not check.findings, findings=check.findings, notes=check.notes,
        documents=documents, events=check.events, chained_events=check.chained,
        legacy_events=check.legacy, signatures_checked=check.signatures,
        electronic_signatures=check.esignatures,
        keys=[{"key_id": k, **v} for k, v in keyring.items()])


PARALLEL_FROM = 2000  # documents; below this a second process costs more than it saves
SIGNATURES_PARALLEL_FROM = 20_000  # chain entries checked one by one (--all-signatures)
DOCS_PER_TASK = 250
SIGNATURES_PER_TASK = 10_000


def _pieces(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _only(anchor: dict[str, str] | None, docs: list[str]) -> dict[str, str] | None:
    return None if anchor is None else {d: anchor[d] for d in docs if d in anchor}


def _gathered(check: Check, jobs: work.Work, number: int) -> list:
    """A task's reports; its counters are added to ``check``'s."""
    reports, counters = jobs.result(number)
    for name, value in zip(COUNTERS, counters):
        setattr(check, name, getattr(check, name) + value)
    return reports


def _merge(check: Check, docs: list[str], by_doc: dict[str, tuple]) -> list[tuple]:
    """Every document's findings in order, its trail compared with the chain where its
    report left the place; returns the passkey-signed events ``(doc_id, line, event)``."""
    found, signed = check.findings, []
    for doc_id in docs:
        report = by_doc.get(doc_id)
        if report is None:  # only the chain names it (its trail and meta are gone)
            report = trails.check_doc(check, doc_id)
        _, findings, at, trail, passkeys = report
        check.findings = found
        found += findings[:at]
        if trail is not None:
            trails.compare(check, doc_id, trail)
        found += findings[at:]
        signed += [(doc_id, n, event) for n, event in passkeys]
    check.findings = found
    return signed


def _all_docs(project: Project) -> set[str]:
    """Every document with a trail or a meta file."""
    docs = chain.doc_ids(project.qms / ".audit", ".jsonl") \
        | chain.doc_ids(project.qms / ".meta", ".json")
    if chain.project_trail(project).is_file():
        docs.add(PROJECT)
    return docs
