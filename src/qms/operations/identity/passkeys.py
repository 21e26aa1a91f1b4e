"""Passkeys (WebAuthn): ``qms passkey enroll|list|revoke``, the policy that makes some users
sign only with one, and the one check of a signing assertion (docs/passkeys.md).

* ``passkey_enroll`` (administrator, CLI only) makes a one-time enrollment code, records
  its hash, user and expiry in a signed ``PASSKEY_INVITE`` (nothing else stores it) and
  prints the link; the browser registers the passkey and the web adapter hands the verified
  registration to ``passkey_register``, which records the credential in a signed
  ``PASSKEY_ENROLL`` event naming the invite (so consuming it) and under ``QMS/``. A code
  counts only when a signed invite names it, unexpired and not yet used (``invite_for``).
* ``signing_text`` is the text (and version) a signature binds now, as the signed trail
  binds it: what the signing page shows; ``bound_inputs`` re-reads it under the project
  lock and refuses (``same_text``) unless it is the version and SHA-256 the page showed.
* ``challenge`` derives the bytes a signer's authenticator signs from what is signed
  (document, version, content SHA-256, meaning) and a single-use nonce; ``check_assertion``
  verifies a browser's assertion (origin, RP ID, user verification, sign count, the
  challenge) and returns an ``Assertion``; ``gate`` (called by review, approve, reject and
  close inside their transaction) accepts only such an object for a policy user, bound to
  exactly what the operation is about to sign, and returns the evidence the event records.

py_webauthn is imported only inside the functions that verify, never on a read path.
"""

from __future__ import annotations

import hashlib

from qms.errors import Conflict, NotFound, PermissionDenied, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import audit, frontmatter, passkeys, settings, users
from qms.store import meta as meta_store
from qms.store.project import Project

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CHALLENGE_VERSION = "qms-passkey-v1"
CHANGED = "The text changed since you opened this page: reload and read it again."
INVITE_MINUTES = 15
MAX_MINUTES = 24 * 60
DEFAULT_PORT = 8000


class PasskeyInvite(Result):
    user: str
    url: str
    expires: str
    invite: str

    def render(self) -> str:
        return self.url

    @property
    def warnings(self) -> list[str]:
        return [f"One-time enrollment link for {self.user}, valid until {self.expires}. "
                "Give it to that person only; they open it in a browser on this machine and "
                "register a passkey (PIN or biometric required)."]


class PasskeyList(Result):
    passkeys: list[dict]

    def render(self) -> str:
        if not self.passkeys:
            return "No passkeys."
        rows = [f"{'CRED':<17} {'USER':<12} {'STATUS':<8} {'CREATED':<26} AAGUID"]
        for p in self.passkeys:
            rows.append(f"{p['cred']:<17} {p['user']:<12} {p['status']:<8} {p['created']:<26} "
                        f"{p['aaguid']}" + (f"  !! {p['problem']}" if p.get("problem") else ""))
        return "\n".join(rows)


class PasskeyChange(Result):
    cred: str
    user: str
    message: str


# -- settings ------------------------------------------------------------------------------
def rp_id(project: Project) -> str:
    return settings.get(project, "signatures.rp_id")


def base_url(project: Project) -> str:
    """The dashboard's address for links and messages (``signatures.origin``, else the
    default port on the RP ID)."""
    return settings.get(project, "signatures.origin") or f"http://{rp_id(project)}:{DEFAULT_PORT}"


def page_url(project: Project, doc_id: str) -> str:
    return f"{base_url(project)}/documents/{doc_id}"


def required(project: Project, user: str) -> bool:
    """Whether ``user`` signs only with a passkey (``signatures.passkey``: users, groups)."""
    names = settings.get(project, "signatures.passkey")
    if not names:
        return False
    wanted = set(names.split(","))
    return user in wanted or users.group_of(project, user) in wanted


# -- enrollment ----------------------------------------------------------------------------
def passkey_enroll(project: Project, user: str, *, name: str, url: str | None = None,
                   minutes: int = INVITE_MINUTES) -> PasskeyInvite:
    authorize(project, user, "passkey_enroll")
    users.group_of(project, name)  # the passkey's user must exist
    if isinstance(minutes, bool) or not isinstance(minutes, int) or \
            not 1 <= minutes <= MAX_MINUTES:
        raise ValidationError(f"--minutes must be a whole number from 1 to {MAX_MINUTES}.")
    base = (url or base_url(project)).rstrip("/")
    if not settings.valid("signatures.origin", base):
        raise ValidationError(f"--url must be an origin such as http://localhost:8000, not {base!r}.")
    created = audit.now_ts()
    expires = _plus_minutes(created, minutes)
    code = passkeys.new_code()
    digest = passkeys.code_hash(code)
    with project.transaction() as tx:
        audit.append_project(tx, project, "PASSKEY_INVITE", user, invite=digest[:16],
                             code_sha256=digest, for_user=name, expires=expires)
    return PasskeyInvite(name, f"{base}/passkey/enroll?code={code}", expires, digest[:16])


def invite_for(project: Project, code: str) -> dict:
    """The live invite of an enrollment code (the page a link opens), else PermissionDenied:
    a signed PASSKEY_INVITE records the code's hash, it has not expired, no PASSKEY_ENROLL
    used it, and its user is still a user."""
    from qms.store import vouched

    found = passkeys.invite(project, code or "") if isinstance(code, str) else None
    event = found[1] if found else {}
    if found is None or not _live(event) or passkeys.used(project, str(event.get("invite"))) \
            or not vouched.signed(project, *found):
        raise PermissionDenied("This enrollment link is not valid: it is unknown, was already "
                               "used or has expired. Ask an administrator for a new one "
                               "(qms passkey enroll USER).")
    users.group_of(project, str(event.get("for_user")))
    return {"invite": event["invite"], "user": event["for_user"], "expires": event["expires"],
            "created_by": event.get("user"), "seq": event["seq"]}


def passkey_register(project: Project, *, code: str, registration: Any,
                     origin: str) -> PasskeyChange:
    """Record the credential a browser registered with a live enrollment code (consumed).
    ``registration`` is py_webauthn's ``VerifiedRegistration`` (the web adapter verified
    it against the challenge it issued for this code)."""
    if not registration.user_verified:
        raise PermissionDenied("The authenticator did not verify the user (PIN or biometric).")
    allowed = settings.get(project, "signatures.passkey_aaguids")
    aaguid = str(registration.aaguid)
    if allowed and aaguid not in allowed.split(","):
        raise PermissionDenied(f"This authenticator model ({aaguid}) is not in "
                               "signatures.passkey_aaguids.")
    from webauthn.helpers import bytes_to_base64url

    cred = passkeys.short_id(registration.credential_id)
    with project.transaction() as tx:
        invite = invite_for(project, code)  # re-checked under the lock: single use
        if passkeys.load(project, cred, tx) is not None:
            raise Conflict(f"This passkey is already enrolled ({cred}).")
        entry = {"cred": cred, "user": invite["user"],
                 "credential_id": bytes_to_base64url(registration.credential_id),
                 "public_key": bytes_to_base64url(registration.credential_public_key),
                 "aaguid": aaguid, "rp_id": rp_id(project)}
        audit.append_project(tx, project, "PASSKEY_ENROLL", invite["user"],
                             **{k: v for k, v in entry.items() if k != "user"},
                             invite=invite["invite"], invited_by=invite["created_by"],
                             origin=origin, sign_count=registration.sign_count)
        from qms.store import keys

        signer = keys.active_signer(project, tx)
        mark = {"key_id": signer.key_id, "sig": signer.sign(passkeys.vouch_message(entry))} \
            if signer else None
        passkeys.save(tx, project, {**entry, "created": audit.now_ts(),
                                    "invite": invite["invite"], "vouch": mark,
                                    "sign_count": registration.sign_count, "revoked": None})
    return PasskeyChange(cred, invite["user"], f"Passkey {cred} enrolled for {invite['user']}.")


def passkey_list(project: Project, user: str) -> PasskeyList:
    authorize(project, user, "passkey_list")
    records = passkeys.enrolled(project)
    rows = []
    for cred in passkeys.all_creds(project):
        entry = passkeys.load(project, cred) or {}
        problem = passkeys.check(entry, records.get(cred))
        if problem is None and not passkeys.vouched(project, entry):
            problem = "is not vouched for by this project's signing key (written by hand?)"
        rows.append({"cred": cred, "user": entry.get("user", "?"),
                     "aaguid": entry.get("aaguid", "?"), "created": entry.get("created", "?"),
                     "sign_count": entry.get("sign_count"),
                     "status": "revoked" if entry.get("revoked") else "active",
                     "problem": problem})
    return PasskeyList(rows)


def passkey_revoke(project: Project, user: str, *, name: str, cred: str) -> PasskeyChange:
    authorize(project, user, "passkey_revoke")
    with project.transaction() as tx:
        entry = passkeys.load(project, cred, tx)
        if entry is None or entry.get("user") != name:
            raise NotFound(f"{name} has no passkey {cred!r} (see: qms passkey list).")
        if entry.get("revoked"):
            return PasskeyChange(cred, name, f"Passkey {cred} of {name} was already revoked.")
        entry["revoked"] = audit.now_ts()
        audit.append_project(tx, project, "PASSKEY_REVOKE", user, cred=cred, for_user=name)
        passkeys.save(tx, project, entry)
    return PasskeyChange(cred, name, f"Revoked passkey {cred} of {name}: refused from now on.")


def active(project: Project, names: list[str] | None = None,
           command: str | None = None) -> list[dict]:
    """The trusted, unrevoked credentials (of ``names``; with ``command``, of users whose
    group the signed registry allows it): files that agree with their event and carry the
    project key's vouch (so no file or event written by hand is ever used), of people who
    are still users."""
    records = passkeys.enrolled(project)
    found = []
    for cred in passkeys.all_creds(project):
        entry = passkeys.load(project, cred)
        if entry and not entry.get("revoked") and (names is None or entry["user"] in names) \
                and passkeys.check(entry, records.get(cred)) is None \
                and passkeys.vouched(project, entry) and _may(project, entry["user"], command):
            found.append(entry)
    return found


def _may(project: Project, user: str, command: str | None) -> bool:
    """Whether ``user`` is a user (and, given ``command``, in a group that may run it)."""
    try:
        if command is None:
            users.group_of(project, user)
        else:
            authorize(project, user, command)
    except (NotFound, PermissionDenied):
        return False
    return True


# -- signing -------------------------------------------------------------------------------
def signing_text(project: Project, doc_id: str, meaning: str,
                 tx: Any = None) -> tuple[str, str]:
    """(version, text) a signature of ``meaning`` on ``doc_id`` binds now, read only as the
    signed trail binds it (``_bound.Texts``; ``tx``: under the project lock): the draft in
    review or approval; for a closure the closed record (the draft, else the effective
    file, with its minimal frontmatter), as ``close`` writes it."""
    from qms.operations._bound import Texts

    version, texts = meta_store.load(project, doc_id, tx)["version"], Texts(project, doc_id, tx)
    text = texts.draft()
    if meaning == "closure":
        return version, frontmatter.minimal(text if text is not None else
                                            texts.effective() or "")
    return version, text or ""


def same_text(project: Project, seen: dict, bound: dict) -> None:
    """Refuse (Conflict, ``CHANGED``) unless the version and content SHA-256 a signer was
    shown are those about to be signed: the one comparison behind "what you see is what you
    sign" (the options, the sign request and the operation's transaction all call it)."""
    shown = {k: str(seen.get(k) or "") for k in ("version", "content_sha256")}
    if shown != {k: bound[k] for k in shown}:
        raise Conflict(f"{CHANGED} ({bound['doc_id']} is now v{bound['version']}, SHA-256 "
                       f"{bound['content_sha256'][:16]}…; the page showed "
                       f"v{shown['version'] or '?'}, {shown['content_sha256'][:16] or '?'}…)",
                       doc_id=bound["doc_id"], url=page_url(project, bound["doc_id"]))


def bound_inputs(project: Project, doc_id: str, meaning: str, seen: dict) -> dict:
    """What a signature of ``meaning`` on ``doc_id`` binds (doc_id, version, content_sha256,
    meaning), read under the project lock, refused unless the signer was shown exactly it."""
    from qms.domain import integrity

    with project.transaction() as tx:
        version, text = signing_text(project, doc_id, meaning, tx)
    bound = {"doc_id": doc_id, "version": version, "meaning": meaning,
             "content_sha256": integrity.sha256_text(text)}
    same_text(project, seen, bound)
    return bound


def challenge(doc_id: str, version: str, content_sha256: str, meaning: str, nonce: str) -> bytes:
    """The bytes a signer's authenticator signs: a hash of what is signed and the nonce."""
    text = f"{CHALLENGE_VERSION}|{doc_id}|{version}|{content_sha256}|{meaning}|{nonce}"
    return hashlib.sha256(text.encode()).digest()


def signin_challenge(nonce: str) -> bytes:
    return hashlib.sha256(f"{CHALLENGE_VERSION}|signin|{nonce}".encode()).digest()


class Assertion:
    """A verified assertion (only ``check_assertion`` makes one; JSON never becomes one)."""

    def __init__(self, entry: dict, inputs: dict, evidence: dict, sign_count: int) -> None:
        self.user, self.cred = entry["user"], entry["cred"]
        self.inputs, self.evidence, self.sign_count = inputs, evidence, sign_count


def check_assertion(project: Project, credential: dict, expected: bytes, origin: str,
                    names: list[str] | None = None) -> tuple[dict, int, dict]:
    """Verify a browser's assertion against an enrolled, trusted credential (of ``names``):
    origin, RP ID, user verification, signature, sign count and the ``expected`` challenge.
    Returns (credential entry, new sign count, the evidence to record)."""
    from webauthn import verify_authentication_response
    from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
    from webauthn.helpers.exceptions import InvalidAuthenticationResponse

    try:
        raw = base64url_to_bytes(str(credential.get("rawId") or credential.get("id") or ""))
    except (ValueError, TypeError):
        raise ValidationError("The passkey answer is malformed.") from None
    cred = passkeys.short_id(raw)
    entry = next((e for e in active(project, names) if e["cred"] == cred), None)
    if entry is None:
        raise PermissionDenied("This passkey is not enrolled, was revoked, or belongs to "
                               "someone who cannot sign here.")
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=expected,
            expected_rp_id=entry["rp_id"], expected_origin=origin,
            credential_public_key=base64url_to_bytes(entry["public_key"]),
            credential_current_sign_count=int(entry.get("sign_count") or 0),
            require_user_verification=True)
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        raise PermissionDenied(f"The passkey signature was refused: {exc}") from None
    response = credential["response"]
    evidence = {"cred": cred, "credential_id": bytes_to_base64url(verified.credential_id),
                "rp_id": entry["rp_id"], "origin": origin,
                "authenticator_data": response["authenticatorData"],
                "client_data": response["clientDataJSON"], "signature": response["signature"],
                "sign_count": verified.new_sign_count}
    return entry, verified.new_sign_count, evidence


def sign_assertion(project: Project, credential: dict, inputs: dict, origin: str,
                   names: list[str] | None = None) -> Assertion:
    """Verify an assertion over the signing challenge of ``inputs`` (doc_id, version,
    content_sha256, meaning, nonce)."""
    expected = challenge(inputs["doc_id"], inputs["version"], inputs["content_sha256"],
                         inputs["meaning"], inputs["nonce"])
    entry, count, evidence = check_assertion(project, credential, expected, origin, names)
    return Assertion(entry, dict(inputs), {**evidence, "nonce": inputs["nonce"]}, count)


def gate(project: Project, tx: Any, user: str, doc_id: str, version: str, meaning: str | None,
         content: str | None, passkey: Assertion | None) -> dict:
    """The extra event fields of a signature by ``user``: ``{}`` without a passkey for a
    user outside the policy; ``{"passkey": evidence}`` for an assertion bound to exactly
    this document, version, content and meaning. Anything else is refused."""
    if passkey is None:
        if required(project, user):
            raise PermissionDenied(
                f"{user} signs only with a passkey (signatures.passkey): open "
                f"{page_url(project, doc_id)} in a browser and sign there.",
                user=user, url=page_url(project, doc_id))
        return {}
    if not isinstance(passkey, Assertion):
        raise PermissionDenied("A passkey signature must come from the browser.")
    from qms.domain import integrity

    bound = {"doc_id": doc_id, "version": version, "meaning": meaning,
             "content_sha256": integrity.sha256_text(content or "")}
    if passkey.user != user or any(passkey.inputs.get(k) != bound[k]
                                   for k in ("doc_id", "meaning")):
        raise Conflict(f"The passkey signature was made for something else: reload "
                       f"{page_url(project, doc_id)}.")
    same_text(project, passkey.inputs, bound)  # the text signed is the text recorded
    entry = passkeys.load(project, passkey.cred, tx)
    stored = int((entry or {}).get("sign_count") or 0)
    if entry is None or entry.get("revoked"):
        raise PermissionDenied(f"Passkey {passkey.cred} was revoked.")
    if (passkey.sign_count or stored) and passkey.sign_count <= stored:
        raise PermissionDenied("The passkey's signature counter did not increase (a replayed "
                               "or cloned authenticator?).")
    passkeys.save(tx, project, {**entry, "sign_count": passkey.sign_count})
    return {"passkey": passkey.evidence}


def _live(invite: dict) -> bool:
    return str(invite.get("expires", "")) > audit.now_ts()


def _plus_minutes(ts: str, minutes: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(ts) + timedelta(minutes=minutes)).isoformat()
