"""The dashboard's PDF download (`GET /documents/{ID}/export.pdf`): the `qms export`
dossier, refused (409) when the record does not verify unless `?findings=allow`."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from _mcp_support import http
from _web_support import tree_digest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[int, bytes, dict]:
    """GET with time for a layout (the pages' helper waits 5 s at most)."""
    try:
        with _DIRECT.open(url, timeout=120) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


@pytest.fixture(scope="module")
def weasy():
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"WeasyPrint cannot load ({exc}): Debian libpango-1.0-0 libpangoft2-1.0-0")


@pytest.mark.req("REQ-EXP-007")
def test_document_page_offers_the_pdf_and_it_downloads(site, weasy):
    from qms import operations as ops
    from qms.store.project import Project

    page = http(f"{site.base}/documents/SOP-008")[1].decode()
    assert 'href="/documents/SOP-008/export.pdf"' in page
    before = tree_digest(site.root)
    clean = ops.verify(Project.open(site.root), "lead", doc_ids=["SOP-008"]).clean
    status, body, _ = get(f"{site.base}/documents/SOP-008/export.pdf")
    if clean:
        assert status == 200 and body.startswith(b"%PDF-")
    else:
        assert status == 409 and b"does not verify" in body
    status, body, headers = get(f"{site.base}/documents/SOP-008/export.pdf?findings=allow"
                                "&version=1.0")
    assert status == 200 and body.startswith(b"%PDF-")
    assert headers["content-type"] == "application/pdf"
    assert 'filename="SOP-008-v1.0.pdf"' in headers["content-disposition"]
    assert headers["x-content-type-options"] == "nosniff"
    assert get(f"{site.base}/documents/SOP-999/export.pdf")[0] == 404
    assert get(f"{site.base}/documents/SOP-008/export.pdf?version=x")[0] == 400
    assert tree_digest(site.root) == before  # a read: nothing written, no event
