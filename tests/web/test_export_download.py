"""The dashboard's PDF download (`GET /documents/{ID}/export.pdf`): the `qms export` dossier,
made for the signed-in reader (a dossier names who exported it and seals an open round for
them), refused (409) when the record does not verify unless `?findings=allow`."""

from __future__ import annotations

import subprocess
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import pytest

from _mcp_support import http
from _web_support import SECRET, build_project, start_server, stop_server, tree_digest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def get(url: str, headers: dict | None = None,
        data: dict | None = None) -> tuple[int, bytes, Any]:
    """GET (or POST ``data``) with time for a layout (the pages' helper waits 5 s at most),
    redirects not followed."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with _DIRECT.open(urllib.request.Request(url, data=body, headers=headers or {}),
                          timeout=120) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The web tests' project (CR-001 in review: qa's comment sealed, tu pending) under a
    real `qms-mcp` (loopback: `--auth optional`), with tokens for qa and tu."""
    from qms import operations as ops
    from qms.store.project import Project

    root = build_project(tmp_path_factory.mktemp("webexport") / "proj")
    tokens = {u: ops.token_issue(Project.open(root), "lead", name=u).token for u in ("qa", "tu")}
    served = start_server(root, "streamable-http")
    served.root, served.tokens = root, tokens
    yield served
    stop_server(served)


def _records(root) -> dict:
    return {k: v for k, v in tree_digest(root).items() if not k.startswith(".qms/cache/")}


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "d.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True)
    return " ".join(out.stdout.split())


@pytest.mark.req("REQ-EXP-007")
def test_the_download_is_made_for_a_signed_in_reader(served, tmp_path):
    from qms import operations as ops
    from qms.store.project import Project

    page = http(f"{served.base}/documents/SOP-008")[1].decode()
    assert "/export.pdf" not in page and "Sign in</a> to download" in page
    status, _, headers = get(f"{served.base}/documents/SOP-008/export.pdf")
    assert status == 303 and headers["Location"].startswith("/signin?next=")
    before = _records(served.root)
    bearer = {"Authorization": f"Bearer {served.tokens['tu']}"}
    clean = ops.verify(Project.open(served.root), "lead", doc_ids=["SOP-008"]).clean
    status, body, _ = get(f"{served.base}/documents/SOP-008/export.pdf", bearer)
    if clean:
        assert status == 200 and body.startswith(b"%PDF-")
    else:
        assert status == 409 and b"does not verify" in body
    status, body, headers = get(f"{served.base}/documents/SOP-008/export.pdf?findings=allow"
                                "&version=1.0", bearer)
    assert status == 200 and body.startswith(b"%PDF-")
    assert "tu (tu)" in _text(body, tmp_path)  # the reader, not the pages' viewer
    assert headers["Content-Type"] == "application/pdf"
    assert 'filename="SOP-008-v1.0.pdf"' in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert get(f"{served.base}/documents/SOP-999/export.pdf", bearer)[0] == 404
    assert get(f"{served.base}/documents/SOP-008/export.pdf?version=x", bearer)[0] == 400
    forged = {"Authorization": "Bearer qms_0badf00d_" + "A" * 43}
    assert get(f"{served.base}/documents/SOP-008/export.pdf", forged)[0] == 401
    assert _records(served.root) == before  # a read: nothing written but the cache


@pytest.mark.req("REQ-EXP-009")
def test_a_signed_in_reviewer_gets_the_open_round_sealed(served, tmp_path):
    status, _, headers = get(f"{served.base}/signin", data={"token": served.tokens["tu"],
                                                            "next": "/documents/CR-001"})
    assert status == 303
    cookie = {"Cookie": headers["Set-Cookie"].split(";", 1)[0]}
    page = get(f"{served.base}/documents/CR-001", cookie)[1].decode()
    assert 'href="/documents/CR-001/export.pdf"' in page
    status, body, _ = get(f"{served.base}/documents/CR-001/export.pdf?findings=allow", cookie)
    assert status == 200
    text = _text(body, tmp_path)
    assert SECRET not in text and "Review round open" in text and "tu (tu)" in text
    att = tmp_path / "att"
    att.mkdir()
    subprocess.run(["pdfdetach", "-saveall", "-o", str(att), str(tmp_path / "d.pdf")], check=True)
    assert len(list(att.iterdir())) == 3
    assert not [f.name for f in att.iterdir() if SECRET.encode() in f.read_bytes()]
    status, body, _ = get(f"{served.base}/documents/CR-001/export.pdf?findings=allow",
                          {"Authorization": f"Bearer {served.tokens['qa']}"})
    assert status == 200 and SECRET in _text(body, tmp_path)  # qa's own review
