"""Enrollment links are vouched for by the signed trail (issue 22, point 2), in a real
browser (Chromium with a DevTools virtual authenticator) against a real `qms-mcp` on
`localhost`: an invite written by hand into `.qms/passkey-invites.json` (honoured on
d6fe49d) or appended to the trail without a signature opens nothing; a genuine link works
with that file deleted, once, and an edit of the file can neither reopen a used link nor
change whose passkey it enrolls. A user whose group line is edited by hand cannot mint a
link either."""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest

from qms import operations as ops
from qms.store.project import Project
from _passkey_support import authenticator, outcome
from test_passkeys import pk_site  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def site(pk_site):
    """test_passkeys' served project (a module of its own here), with ini an initiator."""
    ops.user_add(pk_site.project, "lead", name="ini", group="initiator")
    return pk_site


def invites_file(site):
    return site.root / ".qms" / "passkey-invites.json"


def hand_invite(site, user: str = "qa") -> str:
    """What the attacker of issue 22 wrote: an invite of its own in the earlier file."""
    code = secrets.token_urlsafe(32)
    digest = hashlib.sha256(code.encode()).hexdigest()
    invites_file(site).write_text(json.dumps({"invites": [{
        "invite": digest[:16], "hash": digest, "user": user, "created": "2026-01-01T00:00:00",
        "created_by": "lead", "expires": "2999-01-01T00:00:00+00:00", "used": None}]}))
    return f"{site.local}/passkey/enroll?code={code}"


def project_events(site) -> list[dict]:
    return [json.loads(x) for x in (site.root / "QMS/.audit/project.jsonl").read_text()
            .splitlines()]


@pytest.mark.req("REQ-PK-009")
def test_an_invite_written_by_hand_opens_nothing(site, page):
    link = hand_invite(site)
    response = page.goto(link)
    assert response.status == 403 and "not valid" in page.locator("main").inner_text()
    # nor a PASSKEY_INVITE line appended to the trail without the project key's signature
    code = secrets.token_urlsafe(32)
    digest = hashlib.sha256(code.encode()).hexdigest()
    chain = site.root / "QMS/.audit/chain.jsonl"
    seq = json.loads(chain.read_text().splitlines()[-1])["seq"] + 1
    trail = site.root / "QMS/.audit/project.jsonl"
    saved = trail.read_bytes()
    with trail.open("a") as f:
        f.write(json.dumps({"ts": "2026-01-01T00:00:00+00:00", "event": "PASSKEY_INVITE",
                            "user": "lead", "invite": digest[:16], "code_sha256": digest,
                            "for_user": "qa", "expires": "2999-01-01T00:00:00+00:00",
                            "prev_sha256": None, "seq": seq}) + "\n")
    response = page.goto(f"{site.local}/passkey/enroll?code={code}")
    assert response.status == 403
    trail.write_bytes(saved)
    assert ops.passkey_list(site.project, "lead").passkeys == []


@pytest.mark.req("REQ-PK-009")
def test_a_genuine_link_works_without_the_file_once_and_a_file_edit_cannot_reopen_it(
        site, page):
    link = ops.passkey_enroll(site.project, "lead", name="qa").url
    assert not invites_file(site).exists() or "code" not in invites_file(site).read_text()
    invites_file(site).unlink(missing_ok=True)                # the deleted invite file
    code = link.split("code=", 1)[1]
    digest = hashlib.sha256(code.encode()).hexdigest()
    invites_file(site).write_text(json.dumps({"invites": [{   # edited to enroll for lead
        "invite": digest[:16], "hash": digest, "user": "lead", "expires": "2999-01-01",
        "created_by": "lead", "used": None}]}))
    authenticator(page)
    page.goto(link)
    assert page.locator("#enroll-user").inner_text() == "qa"  # the signed invite's user
    page.click("#enroll-btn")
    assert "enrolled" in outcome(page, "#enroll-result"), page.errors
    (enrolled,) = ops.passkey_list(site.project, "lead").passkeys
    assert enrolled["user"] == "qa"
    enroll = project_events(site)[-1]
    assert enroll["event"] == "PASSKEY_ENROLL" and enroll["invite"] == digest[:16]
    hand_invite(site)                                          # "used": null again
    data = json.loads(invites_file(site).read_text())
    data["invites"][0].update(invite=digest[:16], hash=digest)
    invites_file(site).write_text(json.dumps(data))
    response = page.goto(link)                                 # replayed after use
    assert response.status == 403 and "already" in page.locator("main").inner_text()
    result = ops.verify(site.project, "lead")
    assert result.clean, result.findings


@pytest.mark.req("REQ-PK-009", "REQ-USER-008")
def test_self_promotion_cannot_mint_an_enrollment_link(site, page):
    agent = site.root / ".claude/agents/ini.md"
    original = agent.read_text()
    agent.write_text(original.replace("group: initiator", "group: administrator"))
    try:
        from qms.errors import ProjectError

        with pytest.raises(ProjectError, match="ini.md says group administrator"):
            ops.passkey_enroll(Project.open(site.root), "ini", name="qa")
        response = page.goto(f"{site.local}/")   # the dashboard refuses too, naming the file
        assert response.status >= 400 and "ini.md" in page.locator("main").inner_text()
    finally:
        agent.write_text(original)
    from qms.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="requires group administrator"):
        ops.passkey_enroll(Project.open(site.root), "ini", name="qa")
    assert not [e for e in project_events(site) if e["event"] == "PASSKEY_INVITE"
                and e["user"] == "ini"]
