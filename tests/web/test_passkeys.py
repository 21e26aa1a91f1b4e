"""Passkeys in a real browser: Debian's Chromium (Playwright) with a DevTools virtual
authenticator, against a real `qms-mcp` served on `localhost` (an IP is no RP ID).

Enrollment by a one-time link (second use, expired and forged links refused), review and
approval signed from the document page, the policy refusing the CLI and MCP, an
authenticator without user verification refused, a replayed assertion and a request
without the CSRF token refused, and `verify` catching edited, transplanted and replayed
passkey signatures. Screenshots go to $QMS_WEB_SHOTS (see conftest)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from _passkey_support import (
    authenticator, enroll, expired_link, in_review, serve, sha, shot, sign, text, trail)
from _web_support import stop_server
from _mcp_support import refused
from qms import operations as ops
from qms.errors import PermissionDenied
from qms.store.project import Project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
VIRTUAL_AAGUID = "01020304-0506-0708-0102-030405060708"


@pytest.fixture(scope="module")
def pk_site(tmp_path_factory):
    """CR-001 in review (qa), CR-002/CR-003/CR-004 in approval (qa), served on localhost."""
    root = tmp_path_factory.mktemp("passkeys") / "proj"
    p = in_review(root, 4)
    for doc in ("CR-002", "CR-003", "CR-004"):
        ops.review(p, "qa", doc_id=doc, outcome="recommend", comment="fine")
        ops.route(p, "claude", doc_id=doc, route_type="approval", assignees=["qa"])
    served = serve(root, p)
    yield served
    stop_server(served)


def verify(root: Path):
    return ops.verify(Project.open(root), "lead")


@pytest.mark.req("REQ-PK-001")
def test_enroll_with_a_one_time_link(pk_site, page, shots):
    authenticator(page)
    cred = enroll(pk_site, page, shots=shots)
    listed = {p["cred"]: p for p in ops.passkey_list(pk_site.project, "lead").passkeys}
    assert listed[cred]["aaguid"] == VIRTUAL_AAGUID and listed[cred]["user"] == "qa"
    assert listed[cred]["problem"] is None
    events = [e for e in trail(pk_site, "project") if e["event"].startswith("PASSKEY_")]
    assert [e["event"] for e in events[-2:]] == ["PASSKEY_INVITE", "PASSKEY_ENROLL"]
    link = page.url
    assert events[-1]["cred"] == cred and events[-1]["invite"] == events[-2]["invite"]
    assert link.split("code=")[1] not in json.dumps(events[-2])  # only the hash is stored
    assert page.errors == []

    unused = ops.passkey_enroll(pk_site.project, "lead", name="qa").url
    response = page.goto(unused.replace("localhost", "127.0.0.1"))  # an IP is no RP ID
    assert response.status == 400 and "bound to localhost" in page.locator("main").inner_text()
    response = page.goto(link)                           # a second use
    assert response.status == 403 and "already" in page.locator("main").inner_text()
    response = page.goto(f"{pk_site.local}/passkey/enroll?code=forged-{'x' * 40}")
    assert response.status == 403
    response = page.goto(expired_link(pk_site))          # expired
    assert response.status == 403 and "expired" in page.locator("main").inner_text()


@pytest.mark.req("REQ-PK-002", "REQ-PK-003")
def test_review_and_approve_from_the_page_policy_refuses_cli_and_mcp(pk_site, page, shots):
    authenticator(page)
    enroll(pk_site, page)
    p = pk_site.project
    ops.config_set(p, "lead", key="signatures.passkey", value="qa")
    with pytest.raises(PermissionDenied, match=r"signs only with a passkey.*"
                       + f"{pk_site.local}/documents/CR-002"):
        ops.approve(p, "qa", doc_id="CR-002")

    async def over_mcp() -> str:
        async with pk_site.client() as client:
            return await refused(client, "qms_approve", user="qa", doc_id="CR-002")
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        assert f"{pk_site.local}/documents/CR-002" in pool.submit(anyio.run, over_mcp).result()

    page.goto(f"{pk_site.local}/documents/CR-001")       # review, nobody signed in
    panel = page.locator("#sign")
    sha = ops.status(p, "qa", doc_id="CR-001")
    assert panel.locator("button.sign-btn").all_inner_texts() == [
        "Recommend\nreview: recommend", "Request updates\nreview: request-updates"]
    import hashlib
    draft = p.draft_path("CR-001").read_text()
    assert page.locator("#sign-sha").inner_text() == hashlib.sha256(draft.encode()).hexdigest()
    assert "v" + sha.version in panel.inner_text()
    page.fill("#sign-comment", "Reviewed with care.")
    shot(page, shots, "03-document-review")
    sign(page, "recommend")
    page.wait_for_selector("#sign-flash")
    assert "Signed by qa with passkey" in page.locator("#sign-flash").inner_text()
    review = [e for e in trail(pk_site, "CR-001") if e["event"] == "REVIEW"][-1]
    assert review["user"] == "qa" and review["comment"] == "Reviewed with care."
    assert set(review["passkey"]) >= {"cred", "authenticator_data", "client_data", "signature",
                                      "nonce", "credential_id"}
    assert page.locator("#audit .pk").count() == 1
    assert "passkey" in ops.history(p, "qa", doc_id="CR-001").render()

    page.goto(f"{pk_site.local}/passkey/signin?next=/documents/CR-002")   # sign in, approve
    page.click("#pk-signin-btn")
    page.wait_for_url(f"{pk_site.local}/documents/CR-002")
    assert page.locator("#signed-in-as").inner_text() == "qa"
    shot(page, shots, "04-document-approve")
    sign(page, "approve")
    page.wait_for_selector("#sign-flash")
    shot(page, shots, "05-signed")
    assert ops.status(p, "qa", doc_id="CR-002").status == "PRE_APPROVED"
    assert page.locator("#signatures .pk").count() == 1       # the approval (not the review)
    result = verify(pk_site.root)
    assert result.clean, result.findings
    assert any("passkey signature(s) re-checked" in n for n in result.notes)
    page.click("#pk-signout")          # the panel shows until its flash has been seen
    page.wait_for_selector("header.top .whoami", state="detached")  # no eval: CSP
    assert page.locator("#sign").count() == 0   # PRE_APPROVED: no signature awaited
    page.goto(f"{pk_site.local}/passkey/signin?next=/documents/CR-002")   # the header's
    page.click("#pk-signin-btn")                                          # Sign out too
    page.wait_for_url(f"{pk_site.local}/documents/CR-002")
    assert page.locator("header .whoami").inner_text() == "Signed in as qa"
    page.click("header form.signout button")
    page.goto(f"{pk_site.local}/documents/CR-002")
    assert page.locator("header .whoami").count() == 0
    assert page.errors == []


@pytest.mark.req("REQ-PK-004")
def test_authenticator_without_user_verification_is_refused(pk_site, page):
    cdp, aid = authenticator(page)
    enroll(pk_site, page)
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": aid, "isUserVerified": False})
    page.goto(f"{pk_site.local}/documents/CR-003")
    sign(page, "approve")
    page.wait_for_selector("#sign-result.error-text")
    assert "user verification" in page.locator("#sign-result").inner_text()
    assert ops.status(pk_site.project, "qa", doc_id="CR-003").status == "IN_PRE_APPROVAL"


@pytest.mark.req("REQ-PK-005")
def test_replayed_assertion_and_missing_csrf_token_are_refused(pk_site, page, shots):
    authenticator(page)
    enroll(pk_site, page)
    page.goto(f"{pk_site.local}/documents/CR-003")
    sent = []
    page.on("request", lambda r: sent.append(r.post_data) if r.url.endswith("/passkey/sign")
            else None)
    sign(page, "reject", "Section 2 is missing.")
    page.wait_for_selector("#sign-flash")
    assert ops.status(pk_site.project, "qa", doc_id="CR-003").status != "IN_PRE_APPROVAL"
    csrf = page.locator("#sign").get_attribute("data-csrf")
    replay = page.evaluate("""([body, csrf]) => fetch('/passkey/sign', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-QMS-CSRF': csrf}, body})
        .then(r => r.json().then(j => [r.status, j.error.message]))""", [sent[0], csrf])
    assert replay[0] == 400 and "already used" in replay[1]
    no_token = page.evaluate("""() => fetch('/passkey/sign/options', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({doc_id: 'CR-004', action: 'approve'})}).then(r => r.status)""")
    assert no_token == 403
    other = page.context.request.post(
        f"{pk_site.local}/passkey/sign/options", data={"doc_id": "CR-004", "action": "approve"},
        headers={"X-QMS-CSRF": csrf, "Origin": f"http://127.0.0.1:{pk_site.port}"})
    assert other.status == 403                                  # not the exact origin
    assert ops.status(pk_site.project, "qa", doc_id="CR-004").status == "IN_PRE_APPROVAL"

    p = pk_site.project                 # an assertion over one document's challenge ...
    doc = ops.create(p, "claude", doc_type="CR", title="Another").doc_id
    ops.checkin(p, "claude", doc_id=doc, content=text("Another"))
    ops.route(p, "claude", doc_id=doc, route_type="review", assignees=["qa"])
    page.goto(f"{pk_site.local}/documents/CR-004")
    csrf = page.locator("#sign").get_attribute("data-csrf")
    shown = [{"version": "0.1", "content_sha256": sha(p.draft_path(d).read_text())}
             for d in ("CR-004", doc)]                  # what each page would display
    status, message = page.evaluate(CROSS_SIGN, [csrf, "CR-004", doc, *shown])
    assert status == 403 and "refused" in message               # ... sent for another one
    assert ops.status(p, "qa", doc_id="CR-004").status == "IN_PRE_APPROVAL"
    assert ops.status(p, "qa", doc_id=doc).status == "IN_PRE_REVIEW"


# sign the challenge issued for document a, then send it with the nonce issued for b
CROSS_SIGN = """async ([csrf, a, b, seenA, seenB]) => {
  const post = (url, body) => fetch(url, {method: 'POST', headers: {
      'Content-Type': 'application/json', 'X-QMS-CSRF': csrf}, body: JSON.stringify(body)})
    .then(r => r.json().then(j => [r.status, j]));
  const buf = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')
    + '==='.slice((s.length + 3) % 4)), c => c.charCodeAt(0)).buffer;
  const b64 = x => btoa(String.fromCharCode(...new Uint8Array(x)))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const [, first] = await post('/passkey/sign/options', {doc_id: a, action: 'approve', ...seenA});
  const [, second] = await post('/passkey/sign/options',
                                {doc_id: b, action: 'recommend', comment: 'x', ...seenB});
  const o = JSON.parse(first.options);
  o.challenge = buf(o.challenge);
  o.allowCredentials.forEach(c => { c.id = buf(c.id); });
  const cred = await navigator.credentials.get({publicKey: o});
  const r = cred.response;
  const [status, answer] = await post('/passkey/sign', {nonce: second.nonce, ...seenB, credential: {
    id: cred.id, rawId: b64(cred.rawId), type: cred.type, clientExtensionResults: {},
    response: {authenticatorData: b64(r.authenticatorData), clientDataJSON: b64(r.clientDataJSON),
               signature: b64(r.signature), userHandle: null}}});
  return [status, answer.error ? answer.error.message : 'accepted'];
}"""


@pytest.mark.req("REQ-PK-006")
def test_verify_catches_edited_transplanted_and_replayed_passkey_signatures(pk_site, page,
                                                                            tmp_path):
    authenticator(page)
    enroll(pk_site, page)
    page.goto(f"{pk_site.local}/documents/CR-004")
    sign(page, "approve")
    page.wait_for_selector("#sign-flash")
    assert verify(pk_site.root).clean

    def tampered(name: str, edit) -> list[dict]:
        copy = tmp_path / name
        shutil.copytree(pk_site.root, copy, ignore=shutil.ignore_patterns("lock", "journal"))
        edit(Project.open(copy))
        return [f for f in verify(copy).findings if f["kind"] == "passkey"]

    def edit_event(p: Project, doc: str, change) -> None:
        path = p.audit_path(doc)
        lines = path.read_text().splitlines()
        n = max(i for i, line in enumerate(lines) if '"passkey": {' in line)
        event = json.loads(lines[n])
        change(event, lines)
        lines[n] = json.dumps(event)
        path.write_text("\n".join(lines) + "\n")

    def flip(event, _):
        sig = event["passkey"]["signature"]
        event["passkey"]["signature"] = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    found = tampered("edited", lambda p: edit_event(p, "CR-004", flip))
    assert found and "does not verify" in found[0]["message"]

    def other_version(event, _):
        event["version"] = "0.2"
    found = tampered("version", lambda p: edit_event(p, "CR-004", other_version))
    assert found and "does not verify" in found[0]["message"]

    def transplant(p: Project) -> None:  # CR-004's approval copied into CR-003's trail
        source = [line for line in p.audit_path("CR-004").read_text().splitlines()
                  if '"passkey": {' in line][-1]
        with open(p.audit_path("CR-003"), "a") as fh:
            fh.write(source + "\n")
    found = tampered("transplant", transplant)
    assert any("does not verify" in f["message"] or "replayed" in f["message"] for f in found)

    def replay(p: Project) -> None:  # the same signature twice in its own trail
        line = [x for x in p.audit_path("CR-004").read_text().splitlines()
                if '"passkey": {' in x][-1]
        with open(p.audit_path("CR-004"), "a") as fh:
            fh.write(line + "\n")
    found = tampered("replay", replay)
    assert any("replayed" in f["message"] for f in found)

    def edit_credential(p: Project) -> None:
        path = next((p.qms / ".passkeys").glob("*.json"))
        entry = json.loads(path.read_text())
        entry["user"] = "lead"
        path.write_text(json.dumps(entry))
    found = tampered("credential", edit_credential)
    assert any("differs from its PASSKEY_ENROLL" in f["message"] for f in found)

    def add_credential(p: Project) -> None:
        path = next((p.qms / ".passkeys").glob("*.json"))
        entry = json.loads(path.read_text())
        entry["cred"] = "0123456789abcdef"
        (p.qms / ".passkeys" / "0123456789abcdef.json").write_text(json.dumps(entry))
    found = tampered("added", add_credential)
    assert any("no PASSKEY_ENROLL event" in f["message"] for f in found)
    with pytest.raises(PermissionDenied):       # and the server refuses a hand-added key
        from qms.operations.identity import passkeys as pk
        copy = Project.open(tmp_path / "added")
        pk.check_assertion(copy, {"rawId": "ASNFZ4mrze8", "response": {}}, b"x", "http://x")


@pytest.mark.req("REQ-PK-006")
def test_counter_going_backwards_is_found_and_revoked_passkey_refused(pk_site, page, tmp_path):
    """Two signatures of one credential with their counters in the wrong chain order (what a
    cloned authenticator produces) are a finding; a revoked passkey signs nothing more."""
    p = pk_site.project
    signed: dict[str, list[str]] = {}
    for doc in ("CR-001", "CR-002", "CR-003", "CR-004"):
        for e in trail(pk_site, doc):
            if "passkey" in e:
                signed.setdefault(e["passkey"]["cred"], []).append(doc)
    cred, docs = next((c, d) for c, d in signed.items() if len(d) >= 2)  # review + approval
    copy = tmp_path / "swap"
    shutil.copytree(pk_site.root, copy, ignore=shutil.ignore_patterns("lock", "journal"))
    q = Project.open(copy)
    found = {}
    for doc in docs[:2]:
        lines = q.audit_path(doc).read_text().splitlines()
        found[doc] = next(i for i, x in enumerate(lines) if '"passkey": {' in x)
    seqs = [json.loads(q.audit_path(d).read_text().splitlines()[found[d]])["seq"]
            for d in docs[:2]]
    for doc, seq in zip(docs[:2], reversed(seqs)):
        path = q.audit_path(doc)
        lines = path.read_text().splitlines()
        event = json.loads(lines[found[doc]])
        event["seq"] = seq
        lines[found[doc]] = json.dumps(event)
        path.write_text("\n".join(lines) + "\n")
    findings = [f for f in verify(copy).findings if f["kind"] == "passkey"]
    assert any("went backwards" in f["message"] for f in findings), findings

    authenticator(page)
    mine = enroll(pk_site, page)
    ops.passkey_revoke(p, "lead", name="qa", cred=mine)
    listed = {x["cred"]: x for x in ops.passkey_list(p, "lead").passkeys}
    assert listed[mine]["status"] == "revoked" and listed[mine]["problem"] is None
    ops.config_set(p, "lead", key="signatures.passkey", value="")
    doc = ops.create(p, "claude", doc_type="CR", title="After revocation").doc_id
    ops.checkin(p, "claude", doc_id=doc, content=text("After revocation"))
    ops.route(p, "claude", doc_id=doc, route_type="review", assignees=["qa"])
    for other in (x for x in listed.values() if x["status"] == "active"):
        ops.passkey_revoke(p, "lead", name="qa", cred=other["cred"])
    page.goto(f"{pk_site.local}/documents/{doc}")
    assert page.locator("button.sign-btn").count() == 0          # no usable passkey left
    assert "qa has a signature pending here but no usable passkey" in \
        page.locator("#sign-nokey").inner_text()
    result = verify(pk_site.root)
    assert result.clean, result.findings                         # signed before revocation


@pytest.mark.req("REQ-PK-003")
def test_owner_closes_from_the_page(pk_site, page, shots):
    p = pk_site.project
    ops.config_set(p, "lead", key="signatures.passkey", value="")
    ops.release(p, "claude", doc_id="CR-002")
    ops.route(p, "claude", doc_id="CR-002", route_type="review", assignees=["qa"])
    ops.review(p, "qa", doc_id="CR-002", outcome="recommend", comment="executed well")
    ops.route(p, "claude", doc_id="CR-002", route_type="approval", assignees=["qa"])
    ops.approve(p, "qa", doc_id="CR-002")
    assert ops.status(p, "claude", doc_id="CR-002").status == "POST_APPROVED"
    authenticator(page)
    enroll(pk_site, page, user="claude")
    ops.config_set(p, "lead", key="signatures.passkey", value="claude")
    with pytest.raises(PermissionDenied, match="claude signs only with a passkey"):
        ops.close(p, "claude", doc_id="CR-002")
    page.goto(f"{pk_site.local}/documents/CR-002")
    assert page.locator("button.sign-btn").all_inner_texts() == ["Close\nclosure"]
    sign(page, "close")
    page.wait_for_selector("#sign-flash")
    shot(page, shots, "06-closed")
    assert ops.status(p, "claude", doc_id="CR-002").status == "CLOSED"
    close = [e for e in trail(pk_site, "CR-002") if e["event"] == "CLOSE"][-1]
    assert close["passkey"]["cred"] and close["meaning"] == "closure"
    result = verify(pk_site.root)
    assert result.clean, result.findings
