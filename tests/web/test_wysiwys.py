"""What you see is what you sign (issue 22, attacks 4 and 5): the page that offers a passkey
signature shows the exact text it signs, the browser sends back the version and SHA-256 it
displayed, and the server refuses when the record's text is no longer that one: at the
options request, at the sign request, and inside the operation's transaction.

Browser tests (Chromium, DevTools virtual authenticator): the author rewrites the text while
the reviewer reads it; a revision under review is shown instead of the version in force;
passkey.js refuses options whose challenge binds another text. Server-level tests (a real
``qms-mcp``, a software authenticator in Python): a change between options and sign, a
forged sign POST, stale options."""

from __future__ import annotations

import hashlib
import json
import re

import httpx2
import pytest

from _passkey_support import (
    SoftKey, authenticator, b64u, enroll, in_review, outcome, serve, sha, shot, sign, text,
    trail)
from _web_support import stop_server
from qms import operations as ops
from qms.store.project import Project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
CHANGED = "the text changed since you opened this page: reload and read it again"


@pytest.fixture(scope="module")
def wy_site(tmp_path_factory):
    """CR-001..CR-004 in review on qa ("text A" each); a new SOP in force at v1.0 with its
    revision v1.1 in review on qa (``wy_site.sop``). Served on localhost."""
    root = tmp_path_factory.mktemp("wysiwys") / "proj"
    p = in_review(root, 4, lambda doc: f"Text A of {doc}.")
    sop = ops.create(p, "claude", doc_type="SOP", title="Procedure").doc_id
    ops.checkin(p, "claude", doc_id=sop, content=text("Procedure", "Wording in force."))
    ops.route(p, "claude", doc_id=sop, route_type="review", assignees=["qa"])
    ops.review(p, "qa", doc_id=sop, outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id=sop, route_type="approval", assignees=["qa"])
    ops.approve(p, "qa", doc_id=sop)
    ops.checkout(p, "claude", doc_id=sop)
    ops.checkin(p, "claude", doc_id=sop, content=text(
        "Procedure", "Revised wording under review.\n\n## 2 Scope\n\nEvery team.\n\n"
        "<!-- A note the rendering leaves out. -->"))
    ops.route(p, "claude", doc_id=sop, route_type="review", assignees=["qa"])
    served = serve(root, p)
    served.sop = sop
    yield served
    stop_server(served)


def rewrite(qms_proc, root, doc_id: str, body: str) -> str:
    """The author, with their own rights only, through the real CLI: withdraw, rewrite,
    route to the same reviewer again (the version number stays). The new draft's text."""
    for args in (("withdraw", doc_id), ("checkout", doc_id)):
        run = qms_proc(root, "--user", "claude", *args)
        assert run.code == 0, run.err
    (root / ".claude" / "users" / "claude" / "workspace" / f"{doc_id}.md").write_text(
        text("Rewritten", body))
    for args in (("checkin", doc_id), ("route", doc_id, "--review", "--assign", "qa")):
        run = qms_proc(root, "--user", "claude", *args)
        assert run.code == 0, run.err
    return Project.open(root).draft_path(doc_id).read_text()


def reviews(site, doc_id: str) -> list[dict]:
    return [e for e in trail(site, doc_id) if e["event"] == "REVIEW" and e["user"] == "qa"]


@pytest.mark.req("REQ-PK-007")
def test_text_rewritten_while_the_reviewer_reads_is_refused_and_signed_after_reload(
        wy_site, page, shots, qms_proc):
    p = wy_site.project
    authenticator(page)
    enroll(wy_site, page)
    page.goto(f"{wy_site.local}/documents/CR-001")
    a = p.draft_path("CR-001").read_text()
    assert page.locator("#sign-sha").inner_text() == sha(a)
    assert "Text A of CR-001." in page.locator("article.markdown").inner_text()
    b = rewrite(qms_proc, wy_site.root, "CR-001", "Text B, written while qa read text A.")
    assert ops.status(p, "qa", doc_id="CR-001").version == "0.1"      # the same version
    sign(page, "recommend", "I read it all.")
    page.wait_for_selector("#sign-result.error-text, #sign-flash", timeout=15000)
    assert reviews(wy_site, "CR-001") == []            # not qa's review of a text unseen
    assert CHANGED in page.locator("#sign-result").inner_text().lower()
    shot(page, shots, "20-text-changed")
    page.reload()
    assert page.locator("#sign-sha").inner_text() == sha(b) != sha(a)
    assert "Text B, written while qa read text A." in page.locator("#doc-text").inner_text()
    sign(page, "recommend", "Read text B.")
    page.wait_for_selector("#sign-flash")
    (review,) = reviews(wy_site, "CR-001")
    assert review["content_sha256"] == sha(b) and review["version"] == "0.1"
    assert review["passkey"]["cred"]
    assert [e for e in page.errors if "409 (Conflict)" not in e] == []  # the refusal


@pytest.mark.req("REQ-PK-007")
def test_the_panel_of_a_revision_stands_beside_that_revision(wy_site, page, shots):
    """Attack 5: the SOP's v1.0 is in force, v1.1 is in review: the page that offers the
    signature shows v1.1 (its text, version and full SHA-256), v1.0 only behind a link."""
    p = wy_site.project
    authenticator(page)
    enroll(wy_site, page)
    draft = p.draft_path(wy_site.sop).read_text()
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{wy_site.local}/documents/{wy_site.sop}")
        shown = page.locator("#doc-text").inner_text()
        assert "Revised wording under review." in shown and "Every team." in shown
        assert "Wording in force." not in shown
        source = page.locator("#signing-source")          # the exact bytes, comments too
        assert "1 comment the rendering above leaves out" in source.inner_text()
        source.locator("summary").click()
        assert source.locator("pre").text_content() == draft
        rendered = " ".join(page.locator("#doc-text > :not(details)").all_inner_texts())
        assert "Every team." in rendered and "A note the rendering" not in rendered
        head = page.locator("#signing-text").inner_text()
        assert "v1.1" in head and sha(draft) in head and "to sign" in head.lower()
        panel = page.locator("#sign")
        assert panel.get_attribute("data-version") == "1.1"
        assert panel.get_attribute("data-sha256") == sha(draft)
        assert page.locator("#sign-sha").inner_text() == sha(draft)
        in_force = page.locator("#signing-text a.tab-in-force")
        assert "v1.0" in in_force.inner_text() and "in force" in in_force.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot(page, shots, f"21-revision-{width}")
    page.click("#signing-text a.tab-in-force")
    assert "Wording in force." in page.locator("article.markdown").inner_text()
    assert page.errors == []


@pytest.mark.req("REQ-PK-007")
def test_script_refuses_options_whose_challenge_binds_another_text(wy_site, page):
    """passkey.js recomputes the challenge from the version and hash it displayed before it
    asks the authenticator: options for another text never reach ``credentials.get()``."""
    authenticator(page)
    enroll(wy_site, page)
    page.goto(f"{wy_site.local}/documents/CR-004")

    def swap(route) -> None:      # the options' challenge binds another text; all else as sent
        response = route.fetch()
        data = response.json()
        other = "0" * 64
        i = data["signing"]
        options = json.loads(data["options"])
        options["challenge"] = b64u(hashlib.sha256(
            f"qms-passkey-v1|{i['doc_id']}|{i['version']}|{other}|{i['meaning']}|"
            f"{i['nonce']}".encode()).digest())
        data["options"] = json.dumps(options)
        route.fulfill(response=response, json=data)
    signed = []
    page.on("request", lambda r: signed.append(r) if r.url.endswith("/passkey/sign") else None)
    page.route("**/passkey/sign/options", swap)
    sign(page, "recommend", "ok")
    assert CHANGED in outcome(page, "#sign-result").lower()
    assert signed == [] and reviews(wy_site, "CR-004") == []


# -- server level: a software authenticator answers from Python ---------------------------
class Browser:
    """A browser session on the document page, over HTTP: cookie, CSRF token, Origin, and
    the version and hash the page displayed."""

    def __init__(self, site, doc_id: str) -> None:
        self.site, self.doc_id = site, doc_id
        self.client = httpx2.Client(base_url=f"http://127.0.0.1:{site.port}", headers={
            "Host": f"localhost:{site.port}", "Origin": site.local}, timeout=30)
        page = self.client.get(f"/documents/{doc_id}")
        assert page.status_code == 200
        panel = re.search(r'<section [^>]*id="sign"[^>]*>', page.text).group(0)
        attr = dict(re.findall(r'data-([\w-]+)="([^"]*)"', panel))
        self.csrf, self.version, self.sha256 = attr["csrf"], attr["version"], attr["sha256"]
        self.cookie = page.headers["set-cookie"].split(";")[0]

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        r = self.client.post(path, json=body, headers={"X-QMS-CSRF": self.csrf,
                                                       "Cookie": self.cookie})
        return r.status_code, r.json()

    def options(self, **seen: str) -> tuple[int, dict]:
        return self.post("/passkey/sign/options", {
            "doc_id": self.doc_id, "action": "recommend", "comment": "Read it.",
            "version": self.version, "content_sha256": self.sha256, **seen})

    def sign(self, data: dict, key: SoftKey, **seen: str) -> tuple[int, dict]:
        return self.post("/passkey/sign", {
            "nonce": data["nonce"], "credential": key.answer(data["options"]),
            "version": self.version, "content_sha256": self.sha256, **seen})


@pytest.fixture(scope="module")
def soft_key(wy_site) -> SoftKey:
    return SoftKey(wy_site.project, "qa", wy_site.local)


@pytest.mark.req("REQ-PK-007")
def test_a_change_between_options_and_sign_is_refused_by_the_operation(wy_site, soft_key,
                                                                       qms_proc):
    seen = Browser(wy_site, "CR-002")
    status, data = seen.options()
    assert status == 200 and data["signing"]["content_sha256"] == seen.sha256
    b = rewrite(qms_proc, wy_site.root, "CR-002", "Text B, after the options were issued.")
    status, answer = seen.sign(data, soft_key)
    assert status == 409 and CHANGED in answer["error"]["message"].lower()
    assert reviews(wy_site, "CR-002") == []
    again = Browser(wy_site, "CR-002")                  # reloaded: text B signs
    status, data = again.options()
    assert again.sign(data, soft_key)[0] == 200
    (review,) = reviews(wy_site, "CR-002")
    assert review["content_sha256"] == again.sha256 == sha(b)


@pytest.mark.req("REQ-PK-007")
def test_stale_options_and_a_forged_sign_post_are_refused(wy_site, soft_key):
    seen = Browser(wy_site, "CR-003")
    for stale in ({"content_sha256": "f" * 64}, {"version": "0.2"}, {"content_sha256": ""}):
        status, answer = seen.options(**stale)
        assert status == 409 and CHANGED in answer["error"]["message"].lower(), stale
    status, data = seen.options()
    assert status == 200
    status, answer = seen.sign(data, soft_key, content_sha256="e" * 64)   # forged hash
    assert status == 409 and CHANGED in answer["error"]["message"].lower()
    status, answer = seen.sign(data, soft_key)          # that challenge was used up
    assert status == 400
    assert reviews(wy_site, "CR-003") == []
    assert ops.status(wy_site.project, "qa", doc_id="CR-003").pending_assignees == ["qa"]
