"""``qms key rotate`` (administrator) and ``qms key list``: the project's signing keys."""

from __future__ import annotations

from qms.operations._shared import Result, authorize
from qms.store import audit, chain, keys
from qms.store.project import Project


class KeyResult(Result):
    key_id: str
    previous_key_id: str | None
    endorsed: bool
    message: str

    def render(self) -> str:
        return self.message


class KeyListResult(Result):
    keys: list[dict]
    active: str | None

    def render(self) -> str:
        if not self.keys:
            return "No signing keys yet (the first change creates one)."
        rows = [f"{k['key_id']}  {k.get('algorithm', '?')}  created {k.get('created', '?')} by "
                f"{k.get('created_by', '?')}" + ("  (active here)" if k["key_id"] == self.active
                                                 else "") for k in self.keys]
        return "\n".join(rows)


def key_rotate(project: Project, user: str, *, without_previous_key: bool = False) -> KeyResult:
    authorize(project, user, "key_rotate")
    with project.transaction() as tx:
        new, previous = chain.rotate(tx, project, user, audit.now_ts(), without_previous_key)
    if previous:
        msg = (f"New signing key {new} (vouched for by {previous}, which stays in "
               f"QMS/.keys/ for verification). Private key: .qms/keys/{new}.key (mode 0600; "
               "back it up, never commit it).")
    else:
        msg = (f"New signing key {new}, started without the previous key: qms verify will "
               "report this as a finding for an auditor to check.")
    return KeyResult(new, previous, previous is not None, msg)


def key_list(project: Project, user: str) -> KeyListResult:
    authorize(project, user, "key_list")
    active = (project.read_text(keys.private_dir(project) / "active") or "").strip() or None
    return KeyListResult(list(keys.public_keys(project).values()), active)
