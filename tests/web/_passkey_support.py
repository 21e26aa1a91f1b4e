"""Helpers of the passkey tests: a DevTools virtual authenticator in Chromium, enrollment by
link through the page, and a software authenticator that answers a server's challenge from
Python (for server-level tests that need no browser)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from types import SimpleNamespace

from qms import operations as ops
from qms.operations.identity import passkeys as pk
from qms.operations.init import init
from qms.store.project import Project


def text(title: str, body: str | None = None) -> str:
    return (f"---\ntitle: {title}\nrevision_summary: Initial\n---\n\n# {title}\n\n"
            f"{body or f'Body of {title}.'}\n")


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def shot(page, shots, name: str) -> None:
    page.screenshot(path=str(shots / f"pk-{name}.png"), full_page=True)


def authenticator(page, verified: bool = True) -> tuple:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": verified,
        "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def enroll(site, page, user: str = "qa", shots=None) -> str:
    """Enroll a passkey for ``user`` in this page's virtual authenticator; its cred ID."""
    before = {p["cred"] for p in ops.passkey_list(site.project, "lead").passkeys}
    link = ops.passkey_enroll(site.project, "lead", name=user).url
    assert link.startswith(f"{site.local}/passkey/enroll?code=")
    page.goto(link)
    assert page.locator("#enroll-user").inner_text() == user
    if shots:
        shot(page, shots, "01-enroll")
    page.click("#enroll-btn")
    assert "enrolled" in outcome(page, "#enroll-result"), page.errors
    if shots:
        shot(page, shots, "02-enrolled")
    after = {p["cred"] for p in ops.passkey_list(site.project, "lead").passkeys}
    (cred,) = after - before
    return cred


def expired_link(site) -> str:
    """A link whose signed invite expired (recorded as ``passkey enroll`` does, with an
    expiry in the past: the minutes an invite lives, passed)."""
    from qms.store import audit

    code = secrets.token_urlsafe(32)
    with site.project.transaction() as tx:
        audit.append_project(tx, site.project, "PASSKEY_INVITE", "lead", invite=sha(code)[:16],
                             code_sha256=sha(code), for_user="qa",
                             expires="2000-01-01T00:00:00+00:00")
    return f"{site.local}/passkey/enroll?code={code}"


def outcome(page, selector: str) -> str:
    """The text of a result line once the script wrote one (ok or error)."""
    page.wait_for_selector(f"{selector}.ok-text, {selector}.error-text", timeout=15000)
    return page.locator(selector).inner_text()


def trail(site, doc_id: str) -> list[dict]:
    path = site.project.qms / ".audit" / "project.jsonl" if doc_id == "project" else \
        site.project.audit_path(doc_id)
    return [json.loads(line) for line in path.read_text().splitlines()]


def sign(page, action: str, comment: str | None = None) -> None:
    if comment is not None:
        page.fill("#sign-comment", comment)
    page.click(f"button.sign-btn[data-action={action}]")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class SoftKey:
    """A software authenticator (ES256, user verified) enrolled through a real invite: it
    signs whatever challenge the server's options carry, as a browser's would."""

    def __init__(self, project, user: str, origin: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id, self.count, self.origin = secrets.token_bytes(16), 0, origin
        numbers = self.key.public_key().public_numbers()
        import cbor2

        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        code = ops.passkey_enroll(project, "lead", name=user).url.split("code=")[1]
        pk.passkey_register(project, code=code, origin=origin, registration=SimpleNamespace(
            user_verified=True, aaguid="00000000-0000-0000-0000-000000000000",
            credential_id=self.credential_id, credential_public_key=cose, sign_count=0))

    def answer(self, options: str) -> dict:
        """The assertion over the challenge of a server's options JSON."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        parsed = json.loads(options)
        self.count += 1
        auth_data = hashlib.sha256(parsed["rpId"].encode()).digest() + b"\x05" + \
            self.count.to_bytes(4, "big")
        client = json.dumps({"type": "webauthn.get", "challenge": parsed["challenge"],
                             "origin": self.origin, "crossOrigin": False}).encode()
        signature = self.key.sign(auth_data + hashlib.sha256(client).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        raw = b64u(self.credential_id)
        return {"id": raw, "rawId": raw, "type": "public-key", "clientExtensionResults": {},
                "response": {"authenticatorData": b64u(auth_data),
                             "clientDataJSON": b64u(client), "signature": b64u(signature),
                             "userHandle": None}}


def serve(root, project):
    """A real ``qms-mcp`` serving ``root``, its pages addressed on ``localhost`` (the RP ID;
    ``signatures.origin`` names the port). Stop it with ``stop_server``."""
    from _web_support import start_server

    served = start_server(root, "streamable-http")
    served.root, served.project = root, project
    served.local = f"http://localhost:{served.port}"
    ops.config_set(project, "lead", key="signatures.origin", value=served.local)
    return served


def in_review(root, count: int, body=lambda doc: None) -> Project:
    """A fresh project at ``root``: CR-001..CR-{count}, each checked in (text ``body(ID)``)
    and in review on qa."""
    root.mkdir()
    init(root, yes=True)
    p = Project.open(root)
    for n in range(1, count + 1):
        doc = ops.create(p, "claude", doc_type="CR", title=f"Change {n}").doc_id
        ops.checkin(p, "claude", doc_id=doc, content=text(f"Change {n}", body(doc)))
        ops.route(p, "claude", doc_id=doc, route_type="review", assignees=["qa"])
    return p
