"""The pages over plain HTTP against a real server: status codes, traversal attempts, the
Host/Origin guard, `--no-web`, security headers, and that browsing changes no record."""

from __future__ import annotations

import re

import pytest

from _mcp_support import http
from _web_support import make_project, start_server, stop_server, tree_digest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

PAGES = ("/", "/?type=SOP", "/?status=DRAFT", "/documents/SOP-008",
         "/documents/sop-008", "/documents/SOP-008/versions/1.0",
         "/documents/SOP-008/diff/1.0/1.1", "/documents/SOP-008/diff/1.1/0.1",
         "/documents/CR-001", "/documents/SDLC-QMS-RS", "/inbox/tu", "/inbox/qa", "/inbox/claude",
         "/trace", "/trace/QMS", "/static/web.css", "/static/web.js", "/static/favicon.svg")

TRAVERSAL = (
    "/documents/..%2F..%2Fqms.config.json", "/documents/%2e%2e", "/documents/SOP-001%00",
    "/documents/SOP-001/versions/..%2F..%2F..%2Fetc%2Fpasswd",
    "/documents/SOP-001/versions/1.0%2F..%2F..", "/documents/SOP-008/diff/1.0/..",
    "/documents/SOP-008/diff?a=1.0&b=../../x", "/inbox/..%2F..%2Fetc", "/inbox/..",
    "/inbox/%2Fetc%2Fpasswd", "/trace/..%2F..", "/trace/QMS%2F..%2F..",
    "/static/..%2Fapp.py", "/static/web.css%2F..%2F..%2Fapp.py", "/static/app.py",
    "/documents/....//....//etc/passwd", "//etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
)


@pytest.mark.req("REQ-WEB-001")
def test_every_page_answers(site):
    for path in PAGES:
        status, body = http(f"{site.base}{path}")
        assert status == 200, (path, body[:300])


@pytest.mark.req("REQ-WEB-007")
def test_unknown_and_odd_paths_are_400_or_404_and_leak_nothing(site):
    secrets = [(site.root / "qms.config.json").read_bytes()[:40], b"root:x:0:0",
               b"def mount(", b"-----BEGIN"]
    for path in TRAVERSAL:
        status, body = http(f"{site.base}{path}")
        assert status in (400, 404), (path, status)
        assert not any(s and s in body for s in secrets), path
    assert http(f"{site.base}/documents/SOP-999")[0] == 404
    assert http(f"{site.base}/documents/SOP-008/versions/9.9")[0] == 404
    assert http(f"{site.base}/documents/SOP-008/versions/x")[0] == 400
    assert http(f"{site.base}/inbox/nobody")[0] == 404
    assert http(f"{site.base}/inbox/Bad%20Name")[0] == 400
    assert http(f"{site.base}/trace/NOPE")[0] == 404
    assert http(f"{site.base}/documents/CR-099")[0] == 404


@pytest.mark.req("REQ-WEB-006")
def test_every_value_is_escaped(site):
    for path in ("/", "/documents/CR-001", "/inbox/tu", "/documents/SOP-008"):
        body = http(f"{site.base}{path}")[1].decode()
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert "<b>good</b>" not in body and "<b>QA</b>" not in body, path
    body = http(f"{site.base}/documents/CR-001")[1].decode()
    assert "&lt;script&gt;alert(" in body
    assert len(re.findall(r"<script\b", body)) == 1   # ours: /static/web.js


@pytest.mark.req("REQ-WEB-008")
def test_pages_change_nothing(site):
    before = tree_digest(site.root)
    for path in PAGES:
        http(f"{site.base}{path}")
    for path in ("/", "/documents/SOP-008", "/inbox/tu"):
        assert http(f"{site.base}{path}", data=b"x=1")[0] == 405   # no form posts anywhere
    assert tree_digest(site.root) == before


@pytest.mark.req("REQ-WEB-009")
def test_security_headers(site):
    import urllib.request

    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"{site.base}/documents/SOP-008", timeout=5) as response:
        headers = response.headers
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.req("REQ-WEB-010")
def test_host_and_origin_guard_covers_pages(site):
    for path in ("/", "/documents/SOP-008"):
        assert http(f"{site.base}{path}", {"Host": "evil.example"})[0] == 421
        assert http(f"{site.base}{path}", {"Origin": "http://evil.example"})[0] == 403
        assert http(f"{site.base}{path}", {"Host": f"localhost:{site.port}"})[0] == 200


@pytest.mark.req("REQ-WEB-010", "REQ-MCP-024")
def test_another_local_web_app_is_another_origin(site):
    """An agent's dev server on localhost:3000 cannot script the pages or post the sign-in
    form: Origin and Host must name the port the server is bound to."""
    own = f"http://localhost:{site.port}"
    for path in ("/", "/documents/SOP-008", "/signin"):
        assert http(f"{site.base}{path}", {"Origin": own})[0] == 200
        for origin in ("http://localhost:3000", f"http://127.0.0.1:{site.port + 1}",
                       "http://localhost"):
            assert http(f"{site.base}{path}", {"Origin": origin})[0] == 403, (path, origin)
        for host in ("localhost", f"localhost:{site.port + 1}", "127.0.0.1:3000"):
            assert http(f"{site.base}{path}", {"Host": host})[0] == 421, (path, host)
    form = b"token=qms_0badf00d_x&next=/"
    assert http(f"{site.base}/signin", {"Origin": "http://localhost:3000"}, form)[0] == 403


@pytest.mark.req("REQ-WEB-011")
def test_no_web_turns_pages_off(tmp_path):
    served = start_server(make_project(tmp_path / "proj"), "streamable-http", "--no-web")
    try:
        assert http(f"{served.base}/")[0] == 404
        assert http(f"{served.base}/documents/SOP-001")[0] == 404
        assert http(f"{served.base}/healthz")[0] == 200
    finally:
        stop_server(served)


@pytest.mark.req("REQ-WEB-014", "REQ-INTEG-024")
def test_review_comments_stay_hidden_while_the_round_is_open(site):
    from _web_support import SECRET

    body = http(f"{site.base}/documents/CR-001")[1].decode()
    assert SECRET not in body and "hidden until the review round completes" in body
    # nor qa's outcome (timeline) or the meaning of qa's signature (signatures table)
    assert "RECOMMEND" not in body.upper()
    assert "review: recommend" not in body and ">qa<" in body  # that qa reviewed does show
    assert "Looks &lt;b&gt;good&lt;/b&gt;." in http(f"{site.base}/documents/SOP-008")[1].decode()


@pytest.mark.req("REQ-WEB-002")
def test_a_cancelled_document_shows_its_kept_trail(site):
    status, body = http(f"{site.base}/documents/CR-003")
    assert status == 200 and "CANCELLED" in body.decode() and "Abandoned idea" in body.decode()
    assert "CANCEL" in body.decode() and "CREATE" in body.decode()


@pytest.mark.req("REQ-WEB-007", "REQ-HARD-002")
def test_planted_fifo_and_links_never_wedge_or_leak_into_the_dashboard(tmp_path):
    import json
    import os

    root = make_project(tmp_path / "proj")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("---\ntitle: OUTSIDE SECRET\n---\n")
    (outside / "meta.json").write_text(json.dumps({"doc_id": "SOP-009", "version": "1.0",
                                                   "status": "EFFECTIVE"}))
    (root / "QMS/SOP/SOP-001.md").unlink()
    os.mkfifo(root / "QMS/SOP/SOP-001.md")                              # would block a reader
    (root / "QMS/SOP/SOP-002.md").unlink()
    (root / "QMS/SOP/SOP-002.md").symlink_to(outside / "secret.md")       # title from outside
    (root / "QMS/.meta/SOP/SOP-009.json").symlink_to(outside / "meta.json")  # a planted doc
    served = start_server(root, "streamable-http")
    try:
        status, body = http(f"{served.base}/")
        assert status == 200
        html = body.decode()
        assert "SOP-003" in html and "OUTSIDE SECRET" not in html and "SOP-009" not in html
        assert http(f"{served.base}/")[0] == 200     # warm listing: still no wedge
    finally:
        stop_server(served)


@pytest.mark.req("REQ-INTEG-021", "REQ-WEB-007")
def test_a_text_changed_outside_qms_is_a_refusal_page_not_the_text(tmp_path):
    root = make_project(tmp_path / "proj")
    effective = root / "QMS/SOP/SOP-001.md"
    effective.write_text(effective.read_text() + "\nPLANTED STEP: skip the review.\n")
    served = start_server(root, "streamable-http")
    try:
        status, body = http(f"{served.base}/documents/SOP-001")
        html = body.decode()
        assert status == 409, html[:300]          # refused, not a server fault (500)
        assert "Refused" in html and "changed outside qms" in html
        assert "PLANTED STEP" not in html and str(root) not in html and "Traceback" not in html
    finally:
        stop_server(served)
