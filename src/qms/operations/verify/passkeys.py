"""The passkey part of ``qms verify``: every passkey signature re-checked offline.

For each event that carries ``passkey`` evidence: the credential was enrolled (a
``PASSKEY_ENROLL`` event) for the event's user and not revoked before it; the WebAuthn
assertion (authenticator data, client data, signature) verifies against the enrolled public
key with user verification, for the RP ID, and over the challenge derived from the event's
own document, version, content SHA-256, meaning and nonce (so an assertion edited, or moved
to another document, version, meaning or text, fails); no nonce is used twice (a replay);
a credential's sign count never goes backwards. Each credential file under ``QMS/.passkeys/``
must agree with its enroll event. Projects without passkeys pay nothing (no import).
"""

from __future__ import annotations

from qms.domain import integrity
from qms.errors import ProjectError
from qms.operations.identity import passkeys as pk
from qms.store import passkeys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from qms.operations.verify.check import Check


def check(check: Check, signed: list[tuple[str, int, dict]]) -> None:
    """Add the findings of every passkey signature to ``check``: ``signed`` are the
    ``(doc_id, line, event)`` of the events that carry one, as the trail check found them
    (:mod:`.trails`: every trail is read once)."""
    project = check.project
    records = passkeys.enrolled(project)
    creds = passkeys.all_creds(project)
    if not records and not creds:
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
    nonces: dict[str, str] = {}
    counts: dict[str, list[tuple[int, int, str]]] = {}
    checked = 0
    for doc_id, n, event in signed:
        if doc_id == integrity.PROJECT_TRAIL:
            continue
        where = f"{check.rel(str(project.audit_path(doc_id)))}:{n}"
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
