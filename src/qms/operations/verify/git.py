"""``qms verify``: the chain against git (docs/integrity.md, *Rollback*).

Where the project is a git repository, the chain committed at ``HEAD`` (and at ``--since
REF``) must be a prefix of today's ``QMS/.audit/chain.jsonl``: a shorter chain means
committed events were removed (the tail rolled back), a different one that they were
rewritten. One ``git show`` per commit checked; outside git it is a note.
"""

from __future__ import annotations

from qms.errors import UsageError
from qms.store import git

TYPE_CHECKING = False
if TYPE_CHECKING:
    from qms.operations.verify.check import Check

CHAIN = "QMS/.audit/chain.jsonl"


def check(check: Check, today: bytes, since: str | None) -> None:
    """Compare today's chain (its bytes, already read for the chain check) with the one
    committed at HEAD and at ``since``."""
    for rev in ("HEAD", since) if since else ("HEAD",):
        committed, why = git.show(check.project.root, rev, CHAIN)
        if why == "no-git":
            if since:
                raise UsageError(f"--since {since}: the project is not in a git repository.")
            check.notes.append("the project is not in a git repository: the chain cannot be "
                               "compared with a committed one (a rolled-back tail would go "
                               "unnoticed)")
            return
        if why == "no-rev":
            if rev != "HEAD":
                raise UsageError(f"--since {rev}: no such commit.")
            check.notes.append("the git repository has no commit yet: nothing to compare the "
                               "chain with")
            continue
        if why == "no-path":
            check.notes.append(f"{rev} has no {CHAIN} (not committed yet)")
            continue
        _compare(check, rev, committed, today)


def _compare(check: Check, rev: str, committed: bytes, today: bytes) -> None:
    if today.startswith(committed):
        entries = committed.count(b"\n")
        check.notes.append(f"the chain committed at {rev} ({entries} entries) is a prefix of "
                           "today's")
        return
    old, new = committed.splitlines(), today.splitlines()
    n = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    if n == len(new):
        check.find("project", "rollback", f"the chain is shorter than the one committed at "
                   f"{rev}: its last {len(old) - n} entr{'y' if len(old) - n == 1 else 'ies'} "
                   f"(from seq {n + 1}) were removed, i.e. committed events were rolled back",
                   f"{CHAIN}:{n + 1}")
    else:
        check.find("project", "rollback", f"the chain diverges from the one committed at "
                   f"{rev} at entry {n + 1}: committed events were rewritten", f"{CHAIN}:{n + 1}")
