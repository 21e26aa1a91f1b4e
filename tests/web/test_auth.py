"""Page authentication against a real `qms-mcp --auth required` process: tokens issued and
revoked with the real CLI; a Bearer header for scripts, a sign-in page and an HttpOnly,
SameSite=Strict session cookie for browsers."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from _mcp_support import QMS_CLI, http
from _web_support import make_project, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
FAKE = "qms_0badf00d_" + "A" * 43


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def fetch(url: str, headers: dict[str, str] | None = None, data: dict | None = None):
    """(status, headers, body) without following redirects."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def cli(root, *args: str) -> dict:
    run = subprocess.run([QMS_CLI, "--json", "--user", "lead", *args], cwd=root,
                         capture_output=True, text=True, timeout=60)
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("webauth") / "proj")
    served = start_server(root, "streamable-http", "--auth", "required")
    served.root = root
    yield served
    stop_server(served)


def session_cookie(served, token: str) -> str:
    status, headers, _ = fetch(f"{served.base}/signin", data={"token": token, "next": "/inbox/qa"})
    assert status == 303 and headers["Location"] == "/inbox/qa"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert token not in cookie  # the session id is random, never the token
    return cookie.split(";", 1)[0]


@pytest.mark.req("REQ-WEB-017")
def test_required_pages_need_a_token(secured):
    status, headers, _ = fetch(f"{secured.base}/documents/SOP-001")
    assert status == 303 and headers["Location"].startswith("/signin?next=%2Fdocuments%2FSOP-001")
    assert fetch(f"{secured.base}/", {"Authorization": f"Bearer {FAKE}"})[0] == 401
    assert fetch(f"{secured.base}/", {"Cookie": "qms_session=forged"})[0] == 303
    status, _, body = fetch(f"{secured.base}/signin")
    assert status == 200 and b'name="token"' in body
    assert fetch(f"{secured.base}/signin", data={"token": FAKE})[0] == 401
    assert fetch(f"{secured.base}/static/web.css")[0] == 200   # assets need no identity
    assert http(f"{secured.base}/healthz")[0] == 200


@pytest.mark.req("REQ-WEB-017")
def test_bearer_and_session_cookie_work_until_the_token_is_revoked(secured):
    issued = cli(secured.root, "token", "issue", "tu")["result"]
    token = issued["token"]
    assert fetch(f"{secured.base}/", {"Authorization": f"Bearer {token}"})[0] == 200
    cookie = session_cookie(secured, token)
    status, _, body = fetch(f"{secured.base}/documents/SOP-001", {"Cookie": cookie})
    assert status == 200 and b"SOP-001" in body
    # a foreign next= never leaves the server
    status, headers, _ = fetch(f"{secured.base}/signin", data={"token": token, "next": "//evil.example/"})
    assert status == 303 and headers["Location"] == "/"
    assert cli(secured.root, "token", "revoke", issued["token_id"])["ok"]
    assert fetch(f"{secured.base}/", {"Cookie": cookie})[0] == 303      # session ended
    assert fetch(f"{secured.base}/", {"Authorization": f"Bearer {token}"})[0] == 401


@pytest.mark.req("REQ-WEB-017")
def test_mcp_endpoint_still_needs_the_bearer_header(secured):
    token = cli(secured.root, "token", "issue", "qa")["result"]["token"]
    cookie = session_cookie(secured, token)
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    assert http(f"{secured.base}/mcp", {**headers, "Cookie": cookie}, ping)[0] == 401
    assert http(f"{secured.base}/mcp", {**headers, "Authorization": f"Bearer {token}"},
                ping)[0] == 200


@pytest.mark.req("REQ-WEB-017", "REQ-WEB-020")
def test_sign_in_in_a_real_browser(secured, browser, shots):
    token = cli(secured.root, "token", "issue", "claude")["result"]["token"]
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{secured.base}/documents/SOP-001")
    assert "/signin" in page.url
    page.screenshot(path=str(shots / "signin.png"), full_page=True)
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{secured.base}/documents/SOP-001")
    assert "SOP-001" in page.content()
    for path in ("/documents/SOP-001", "/", "/verify", "/trace", "/no-such-page"):
        page.goto(f"{secured.base}{path}")  # every page, error pages too, names who is in
        assert page.locator("header .whoami").inner_text() == "Signed in as claude", path
    cookie = next(c for c in context.cookies() if c["name"] == "qms_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("form.signout button")
    page.wait_for_url("**/signin")
    assert not errors
    context.close()
