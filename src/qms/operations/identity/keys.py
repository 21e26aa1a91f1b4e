"""``qms key rotate`` and ``qms key import FILE`` (administrator), ``qms key list``: the
project's signing keys (docs/integrity.md, "Keys")."""

from __future__ import annotations

from pathlib import Path

from qms.errors import ValidationError
from qms.operations._shared import Result, authorize
from qms.store import audit, chain, keys
from qms.store.project import Project


class KeyResult(Result):
    key_id: str
    previous_key_id: str | None
    endorsed: bool
    message: str


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
        _registry(tx, project, user, new, previous)
    if previous:
        msg = (f"New signing key {new} (vouched for by {previous}, which stays in "
               f"QMS/.keys/ for verification). Private key: .qms/keys/{new}.key (mode 0600; "
               "back it up, never commit it).")
    else:
        msg = (f"New signing key {new}, started without the previous key: qms verify will "
               "report this as a finding for an auditor to check.")
    return KeyResult(new, previous, previous is not None, msg)


def key_import(project: Project, user: str, *, file: str) -> KeyResult:
    """Bring an existing private key in as the next active key: endorsed by the current key
    when this copy has it, recorded (``KEY_ROTATE``, ``imported``) either way. Refused: a
    malformed file, one others may read, a link, a key already in the keyring, a file
    inside the project's records (where it could be committed)."""
    authorize(project, user, "key_import")
    path = Path(file)
    resolved = path.resolve()
    root = project.root.resolve()
    if (resolved == root or root in resolved.parents) and \
            project.state_dir.resolve() not in resolved.parents:
        raise ValidationError(f"{file} lies inside the project: a private key never goes "
                              "where it could be committed. Keep it outside the project (or "
                              "under .qms/) and import it from there.")
    seed = keys.read_seed(path)
    with project.transaction() as tx:
        new, previous = chain.rotate(tx, project, user, audit.now_ts(), True, seed)
        _registry(tx, project, user, new, previous)
    if previous:
        msg = (f"Imported signing key {new} as the active key, vouched for by {previous}. "
               f"Private key: .qms/keys/{new}.key (mode 0600; never commit it).")
    else:
        msg = (f"Imported signing key {new} as the active key, without the previous key (this "
               "copy does not hold it): qms verify reports this start for an auditor to "
               "check against git history.")
    return KeyResult(new, previous, previous is not None, msg)


def _registry(tx, project: Project, user: str, new: str, previous: str | None) -> None:
    """The user registry under the new key: adopted now by a project without one; recorded
    again when the key starts without the previous one (a copy without that key could not
    check the registry's signature, so it would refuse every change)."""
    audit.begin(tx, project, user, None if previous else f"key {new} started without the "
                "previous key")


def key_list(project: Project, user: str) -> KeyListResult:
    authorize(project, user, "key_list")
    active = (project.read_text(keys.private_dir(project) / "active") or "").strip() or None
    return KeyListResult(list(keys.public_keys(project).values()), active)
