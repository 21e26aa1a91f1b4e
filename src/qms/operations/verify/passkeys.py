"""The passkey part of ``qms verify``: every passkey signature re-checked offline, every
enrollment against its invite, and the passkey policy against every signature it covered.

* For each event that carries ``passkey`` evidence: the credential was enrolled (a
  ``PASSKEY_ENROLL`` event) for the event's user and not revoked before it; the WebAuthn
  assertion (authenticator data, client data, signature) verifies against the enrolled
  public key with user verification, for the RP ID, and over the challenge derived from the
  event's own document, version, content SHA-256, meaning and nonce (so an assertion
  edited, or moved to another document, version, meaning or text, fails); no nonce is used
  twice (a replay); a credential's sign count never goes backwards. Each credential file
  under ``QMS/.passkeys/`` must agree with its enroll event.
* Each ``PASSKEY_ENROLL`` names a ``PASSKEY_INVITE`` recorded before it, for the same user,
  not expired when the credential was enrolled, and used by no other enrollment.
* The policy: replaying ``signatures.passkey`` (``CONFIG_SET``) and the user registry (user
  events) in chain order, every review, approval, rejection and closure by a user the
  policy covered at that point (by name, or by the group the registry gave them) carries
  passkey evidence (a closure cascaded to a parent's VR is covered by the parent's).

Projects without passkeys or a policy pay nothing (no import).
"""

from __future__ import annotations

from qms.domain import doctypes, integrity
from qms.domain.permissions import ADMINISTRATOR, BUILTIN_ADMINS
from qms.errors import ProjectError
from qms.operations.identity import passkeys as pk
from qms.operations.verify.check import SIGNING, parse
from qms.store import passkeys
from qms.store.users import TRAIL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from qms.operations.verify.check import Check


def check(check: Check, signed: list[tuple[str, int, dict]], invites: bool) -> None:
    """Add the findings of every passkey signature, enrollment and policy to ``check``:
    ``signed`` are the ``(doc_id, line, event)`` of the events that carry a passkey, and,
    when a policy was ever set, of every signature it could cover (:data:`SIGNING`), as the
    trail check found them (:mod:`.trails`: every trail is read once); ``invites``: the
    project trail is verified too, so every enrollment is checked against its invite."""
    project = check.project
    events = check.project_events()
    records = passkeys.enrolled(project, events)
    creds = passkeys.all_creds(project)
    policy = Policy(events)
    if not records and not creds and not policy.ever:
        return
    for cred in creds:
        try:
            entry = passkeys.load(project, cred) or {}
        except ProjectError as err:
            check.find("project", "passkey", err.message, f"QMS/.passkeys/{cred}.json")
            continue
        problem = passkeys.check(entry, records.get(cred))
        if problem:
            check.find("project", "passkey", f"credential {cred} {problem}",
                       f"QMS/.passkeys/{cred}.json")
    if invites:
        _check_invites(check, events)
    nonces: dict[str, str] = {}
    counts: dict[str, list[tuple[int, int, str]]] = {}
    checked = 0
    for doc_id, n, event in signed:
        if doc_id == integrity.PROJECT_TRAIL:
            continue
        where = f"{check.rel(str(project.audit_path(doc_id)))}:{n}"
        if "passkey" not in event:
            if policy.ever and event.get("event") in SIGNING:
                _check_unsigned(check, doc_id, event, policy, where)
            continue
        checked += 1
        problem = _problem(doc_id, event, records, nonces, where)
        if problem:
            check.find(doc_id, "passkey", problem, where)
            continue
        evidence = event["passkey"]
        counts.setdefault(evidence["cred"], []).append(
            (int(event.get("seq") or 0), _sign_count(evidence), where))
    for cred, seen in counts.items():
        seen.sort()
        for (_, before, _), (_, after, where) in zip(seen, seen[1:]):
            if (before or after) and after <= before:
                check.find(_doc_of(where), "passkey", f"sign count of passkey {cred} went "
                           f"backwards or repeated ({before} then {after}): a cloned "
                           "authenticator or a replayed assertion", where)
    if checked:
        check.notes.append(f"{checked} passkey signature(s) re-checked against "
                           f"{len(records)} enrolled credential(s)")
    if policy.unknown:
        check.notes.append(f"{policy.unknown} signature(s) made before the user registry "
                           "was signed could not be checked against a passkey policy by group "
                           "(the groups of that time were never signed)")


class Policy:
    """``signatures.passkey`` and the user registry as the chain left them at each seq."""

    def __init__(self, events: list[dict]) -> None:
        self.settings: list[tuple[int, set[str]]] = []
        self.registries: list[tuple[int, dict]] = []
        for e in events:
            if e.get("event") == "CONFIG_SET" and e.get("key") == "signatures.passkey":
                value = e.get("value") if isinstance(e.get("value"), str) else ""
                self.settings.append((e["seq"], {n for n in value.split(",") if n}))
            elif isinstance(e.get("users"), dict) and str(e.get("event")).startswith("USER_"):
                self.registries.append((e["seq"], e["users"]))
        self.ever = any(names for _, names in self.settings)
        self.unknown = 0

    def covers(self, user: str, seq: int) -> str | None:
        """How the policy in force just before ``seq`` covered ``user`` (None: it did not;
        counted in ``unknown`` when only a group unknown at the time could have)."""
        names = _at(self.settings, seq) or set()
        if user in names:
            return f"by name ({user})"
        if not names:
            return None
        if user in BUILTIN_ADMINS:
            group = ADMINISTRATOR
        else:
            groups = _at(self.registries, seq)
            if groups is None:
                self.unknown += 1
                return None
            group = groups.get(user)
        return f"by group ({group})" if group in names else None


def _at(timeline: list[tuple[int, object]], seq: int) -> object:
    """The value the last entry before ``seq`` left (None: none yet)."""
    found = None
    for at, value in timeline:
        if at >= seq:
            break
        found = value
    return found


def _check_unsigned(check: Check, doc_id: str, event: dict, policy: Policy,
                    where: str) -> None:
    """A signature without passkey evidence by a user the policy covered then."""
    seq, user = event.get("seq"), str(event.get("user"))
    if not isinstance(seq, int):
        return  # unchained: reported by the trail check
    how = policy.covers(user, seq)
    if how is None or (event.get("event") == "CLOSE" and _cascaded(check, doc_id, user, seq)):
        return
    check.find(doc_id, "passkey", f"{event.get('event')} by {user} (seq {seq}) carries no "
               f"passkey assertion, but signatures.passkey covered {user} then {how}", where)


def _cascaded(check: Check, doc_id: str, user: str, seq: int) -> bool:
    """A VR's closure cascaded from its parent's, which the same user signed just before."""
    parent = doctypes.parent_of(doc_id) if doctypes.type_of(doc_id) == "VR" else None
    if parent is None:
        return False
    try:
        data = check.read(check.files(parent)["trail"]) or b""
    except ProjectError:
        return False
    for line in integrity.lines_of(data):
        if b'"event": "CLOSE"' in line:
            try:
                event = parse(line)
            except ValueError:
                continue  # damaged: the trail check's finding
            if isinstance(event, dict) and event.get("user") == user \
                    and isinstance(event.get("seq"), int) and event["seq"] < seq:
                return True
    return False


def _check_invites(check: Check, events: list[dict]) -> None:
    """Every PASSKEY_ENROLL against the PASSKEY_INVITE it names: recorded before it, for
    the same user, unexpired when used, and used once."""
    invites: dict[str, dict] = {}
    used: dict[str, int] = {}
    for e in events:
        kind = e.get("event")
        if kind == "PASSKEY_INVITE" and isinstance(e.get("invite"), str):
            invites[e["invite"]] = e
        elif kind == "PASSKEY_ENROLL":
            where, invite_id = f"{TRAIL} (seq {e['seq']})", str(e.get("invite"))
            invite = invites.get(invite_id)
            what = f"PASSKEY_ENROLL of credential {e.get('cred')} for {e.get('user')}"
            if invite is None:
                problem = (f"names invite {invite_id}, which no PASSKEY_INVITE recorded "
                           "before it (an enrollment code written outside qms)")
            elif invite.get("for_user") != e.get("user"):
                problem = f"used invite {invite_id}, which was for {invite.get('for_user')}"
            elif str(e.get("ts", "")) > str(invite.get("expires", "")):
                problem = f"used invite {invite_id} after it expired ({invite.get('expires')})"
            elif invite_id in used:
                problem = (f"used invite {invite_id} a second time (first used at seq "
                           f"{used[invite_id]})")
            else:
                used[invite_id] = e["seq"]
                continue
            check.find(integrity.PROJECT_TRAIL, "passkey", f"{what} {problem}", where)


def _problem(doc_id: str, event: dict, records: dict, nonces: dict[str, str],
             where: str) -> str | None:
    evidence = event["passkey"]
    if not isinstance(evidence, dict) or not all(
            isinstance(evidence.get(k), str) for k in (
                "cred", "nonce", "origin", "authenticator_data", "client_data", "signature",
                "credential_id")):
        return "passkey evidence is malformed"
    record = records.get(evidence["cred"])
    if record is None:
        return f"signed with passkey {evidence['cred']}, which was never enrolled"
    if record.get("user") != event.get("user"):
        return (f"signed by {event.get('user')} with passkey {evidence['cred']}, which is "
                f"{record.get('user')}'s")
    revoked = record.get("revoked")
    if revoked and int(revoked.get("seq") or 0) < int(event.get("seq") or 0):
        return f"signed with passkey {evidence['cred']} after it was revoked"
    if evidence["nonce"] in nonces:
        return f"replayed passkey assertion (its challenge was already used at {nonces[evidence['nonce']]})"
    nonces[evidence["nonce"]] = where
    expected = pk.challenge(doc_id, str(event.get("version")), str(event.get("content_sha256")),
                            str(event.get("meaning")), evidence["nonce"])
    from webauthn import verify_authentication_response
    from webauthn.helpers import base64url_to_bytes

    credential = {"id": record["credential_id"], "rawId": record["credential_id"],
                  "type": "public-key", "response": {
                      "authenticatorData": evidence["authenticator_data"],
                      "clientDataJSON": evidence["client_data"],
                      "signature": evidence["signature"]}}
    try:
        verify_authentication_response(
            credential=credential, expected_challenge=expected,
            expected_rp_id=record["rp_id"], expected_origin=evidence["origin"],
            credential_public_key=base64url_to_bytes(record["public_key"]),
            credential_current_sign_count=0, require_user_verification=True)
    except Exception as exc:  # any refusal of py_webauthn: not this record's signature
        return (f"passkey signature does not verify for this document, version, meaning "
                f"and content ({exc})")
    if evidence["credential_id"] != record["credential_id"]:
        return "passkey evidence names another credential id"
    return None


def _sign_count(evidence: dict) -> int:
    """The counter the authenticator signed (authenticator data bytes 33..36)."""
    from webauthn.helpers import base64url_to_bytes

    return int.from_bytes(base64url_to_bytes(evidence["authenticator_data"])[33:37], "big")


def _doc_of(where: str) -> str:
    return where.rsplit("/", 1)[-1].split(".jsonl", 1)[0]
