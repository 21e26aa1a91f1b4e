"""The pages in a real browser (Debian's Chromium via Playwright) against a real server:
click from the dashboard to a document and to a diff, no console errors, hostile titles stay
text, error pages. Every page is screenshotted (see conftest)."""

from __future__ import annotations

import pytest

from _web_support import HOSTILE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def shot(page, shots, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


@pytest.mark.req("REQ-WEB-001", "REQ-WEB-002", "REQ-WEB-004")
def test_dashboard_to_document_to_diff(site, page, shots):
    page.goto(f"{site.base}/")
    assert page.title().startswith("Dashboard")
    shot(page, shots, "01-dashboard")
    waiting = page.locator("#waiting")
    assert "CR-001" in waiting.inner_text() and "tu" in waiting.inner_text()
    assert page.locator(".count .badge", has_text="EFFECTIVE").count() == 1
    assert page.locator("#type-SOP tbody tr").count() == 8

    page.click("#type-SOP a.docid:text('SOP-008')")
    page.wait_for_url("**/documents/SOP-008")
    shot(page, shots, "02-document")
    assert page.locator(".heading h1").inner_text().endswith("Document control")
    assert page.locator("article.markdown table").count() == 1      # Markdown rendered
    assert page.locator("#versions tbody tr").count() == 3          # 0.1, 1.0, 1.1
    assert page.locator("#audit .ev").count() >= 10
    assert "Looks <b>good</b>." in page.locator("#audit").inner_text()  # a comment, as text

    page.click("#versions a.difflink[href$='/diff/1.0/1.1']")
    page.wait_for_url("**/documents/SOP-008/diff/1.0/1.1")
    shot(page, shots, "03-diff")
    assert page.locator("tr.add ins", has_text="Keep every record.").count() == 1
    assert page.locator("tr.del del", has_text="Keep records.").count() == 1
    assert page.locator("tr.add ins", has_text="## 2 Scope").count() == 1

    page.goto(f"{site.base}/documents/SOP-008")           # the compare form (no JavaScript)
    page.select_option("select[name=a]", "0.1")
    page.select_option("select[name=b]", "1.0")
    page.click("form.compare button")
    page.wait_for_url("**/documents/SOP-008/diff/0.1/1.0")
    assert page.errors == []


@pytest.mark.req("REQ-WEB-002", "REQ-WEB-003")
def test_archived_version_inbox_and_trace_pages(site, page, shots):
    for name, path, expect in (
        ("04-version", "/documents/SOP-008/versions/0.1", "v0.1"),
        ("05-inbox", "/inbox/tu", "CR-001"),
        ("06-trace", "/trace/QMS", "REQ-WEB-001"),
        ("07-trace-index", "/trace", "QMS"),
        ("08-filtered", "/?type=CR&status=IN_EXECUTION", "Released change"),
    ):
        page.goto(f"{site.base}{path}")
        shot(page, shots, name)
        assert expect in page.locator("main").inner_text(), path
    page.goto(f"{site.base}/?status=IN_EXECUTION")
    assert page.locator("table.docs tbody tr").count() == 1
    page.goto(f"{site.base}/")
    page.select_option("select[name=type]", "CR")   # progressive enhancement: auto-submit
    page.wait_for_url("**/?type=CR**")
    assert page.locator("table.docs tbody tr").count() == 2
    assert page.errors == []


@pytest.mark.req("REQ-WEB-005")
def test_signature_records_are_shown(site, page, shots):
    page.goto(f"{site.base}/documents/SOP-008")
    table = page.locator("#signatures")
    page.locator("#signatures").scroll_into_view_if_needed()
    text = table.inner_text()
    assert "Approved: content is correct" in text and "Quinn <b>QA</b>" in text
    assert "abababababababab" in text and "2026-02-03 10:11:12 UTC" in text
    assert page.locator("#signatures b").count() == 0     # the display name stayed text


@pytest.mark.req("REQ-WEB-006")
def test_hostile_title_stays_text(site, page, shots):
    for path in ("/", "/documents/CR-001", "/inbox/tu"):
        page.goto(f"{site.base}{path}")
        assert HOSTILE in page.locator("main").inner_text(), path
        assert page.locator("main script, main img").count() == 0, path
    shot(page, shots, "09-hostile")
    page.goto(f"{site.base}/documents/CR-001")
    shot(page, shots, "10-hostile-document")
    assert page.errors == []   # no alert() dialog, no script error


@pytest.mark.req("REQ-WEB-007")
def test_error_pages(site, page, shots):
    for path, status in (("/documents/SOP-999", 404), ("/documents/SOP-008/versions/7.0", 404),
                         ("/documents/NOT-AN-ID", 400), ("/no/such/page", 404)):
        response = page.goto(f"{site.base}{path}")
        assert response.status == status, path
        assert str(status) in page.locator(".error .code").inner_text()
    shot(page, shots, "11-not-found")


@pytest.mark.req("REQ-WEB-018")
def test_verify_page_names_what_was_changed_outside_qms(site, page, shots):
    page.goto(f"{site.base}/verify")     # SOP-008's trail holds a hand-written signature line
    shot(page, shots, "12-verify")
    main = page.locator("main").inner_text()
    assert "finding" in main and "SOP-008" in main
    page.click("table.grid a.docid >> text=SOP-008")
    page.wait_for_url("**/documents/SOP-008")
    page.goto(f"{site.base}/verify?doc=SOP-001")
    assert "clean" in page.locator("h1").inner_text()
    assert page.errors == []


@pytest.mark.req("REQ-WEB-019")
@pytest.mark.parametrize("width", [390, 1280])
def test_pages_fit_narrow_and_wide_screens(site, browser, shots, width):
    """Nothing sticks out of the window or is cut off by its card: at 390 px the header wraps,
    the document lists stack and wide tables scroll inside their card."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    for path in ("/", "/documents/SOP-008", "/documents/CR-002", "/documents/SOP-008/diff/1.0/1.1",
                 "/trace/QMS", "/verify", "/inbox/tu"):
        page.goto(f"{site.base}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        cut = page.evaluate("""() => [...document.querySelectorAll('header a, main a, .badge')]
          .filter(e => { const r = e.getBoundingClientRect(); if (!r.width) return false;
            for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
              const s = getComputedStyle(p), q = p.getBoundingClientRect();
              if (s.overflowX === 'visible') continue;
              if (p.scrollWidth > p.clientWidth) return false;  // reached by scrolling it
              if (r.right > q.right + 1) return true; }         // clipped by a fixed box
            return r.right > innerWidth + 1; }).map(e => e.textContent.trim())""")
        assert cut == [], (path, cut)
        page.screenshot(path=str(shots / f"fit-{width}{path.replace('/', '_')}.png"),
                        full_page=True)
    page.goto(f"{site.base}/")
    nav = page.locator("header nav a", has_text="Integrity").bounding_box()
    assert nav["x"] + nav["width"] <= width                    # the header is not cut
    if width < 700:   # each document is one stacked block: ID, status and title all visible
        row = page.locator("#type-SOP tbody tr").first
        assert row.locator("td").nth(1).is_visible() and row.locator(".badge").is_visible()
        assert page.locator("#type-SOP thead").is_hidden()
    context.close()
