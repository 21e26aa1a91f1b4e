"""The dashboard of a larger project: pages and search on the server, the counts over the
whole project, and the listing the authority keeps: its own commits show at once, changes
behind its back are noticed by a sweep, and a look costs the rows it shows. In Chromium at
390 and 1280 px (screenshots in the folder the conftest prints)."""

from __future__ import annotations

import html
import re
import time

import pytest

from _mcp_support import http
from _web_support import HOSTILE, make_project, start_server, stop_server
from qms import operations as ops
from qms.store.project import Project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CRS = 230  # three pages of 100


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    """A project with 230 CRs (CR-017 with a hostile title, CR-100 in review on qa) served
    by a real `qms-mcp`."""
    root = make_project(tmp_path_factory.mktemp("paged") / "proj")
    p = Project.open(root)
    seeded = [d["doc_id"] for d in ops.documents(p, "lead").documents]  # SOPs, templates
    for n in range(1, CRS + 1):
        ops.create(p, "claude", doc_type="CR", title=HOSTILE if n == 17 else f"Paging change {n}")
    served = start_server(root, "streamable-http")
    served.root, served.every = root, [d["doc_id"] for d in ops.documents(p, "lead").documents]
    assert len(served.every) == len(seeded) + CRS
    yield served
    stop_server(served)


def page_of(served, path: str) -> str:
    status, body = http(f"{served.base}{path}")
    assert status == 200, (path, body[:300])
    return body.decode()


def ids(text: str) -> list[str]:
    """The document IDs of the page's document tables (not the waiting panel)."""
    tables = "".join(re.findall(r'<table class="grid docs">.*?</table>', text, re.S))
    return re.findall(r'class="docid" href="/documents/([^"]+)"', tables)


@pytest.mark.req("REQ-WEB-021")
def test_pages_of_a_hundred_with_the_counts_of_the_whole_project(paged):
    every = paged.every                                 # in order: SOPs, CRs, templates ...
    first, last = page_of(paged, "/"), page_of(paged, "/?page=3")
    assert ids(first) == every[:100] and ids(page_of(paged, "/?page=2")) == every[100:200]
    assert ids(last) == every[200:]
    assert f'<span class="n">{len(every)}</span>' in first               # all of them counted
    assert 'href="/?page=2" rel="next">Next' in first and "page 1 of 3" in first
    assert ids(page_of(paged, "/?page=999")) == ids(last)               # past the end: last
    assert ids(page_of(paged, "/?page=x")) == ids(first)                # not a number: first


@pytest.mark.req("REQ-WEB-021", "REQ-WEB-006")
def test_search_by_id_or_title_keeps_the_filters_and_escapes(paged):
    assert ids(page_of(paged, "/?q=cr-042")) == ["CR-042"]
    found = ids(page_of(paged, "/?q=PAGING+change+17"))
    assert found == ["CR-170", "CR-171", "CR-172", "CR-173", "CR-174", "CR-175", "CR-176",
                     "CR-177", "CR-178", "CR-179"]            # CR-017's title is the hostile one
    hostile = page_of(paged, "/?q=" + "%3Cscript%3Ealert")
    assert ids(hostile) == ["CR-017"] and "<script>alert" not in hostile
    assert html.escape(HOSTILE) in hostile
    none = page_of(paged, '/?q=%22%3E%3Cimg+src%3Dx%3E')
    assert ids(none) == [] and "<img src=x>" not in none and "No document matches" in none
    typed = page_of(paged, "/?type=SOP&q=sop")
    sops = [i for i in paged.every if i.startswith("SOP-")]
    assert ids(typed) == sops and sops
    many = page_of(paged, "/?type=CR&q=paging&page=2")
    assert len(ids(many)) == 100 and ids(many)[0] == "CR-102"    # CR-017 is not "paging"
    assert 'href="/?type=CR&amp;q=paging&amp;page=3"' in many           # the pager keeps both
    assert 'href="/?type=CR&amp;q=paging" rel="prev">‹ Previous' in many


@pytest.mark.req("REQ-WEB-022")
def test_own_writes_show_at_once_and_a_look_reads_no_unchanged_file(tmp_path, monkeypatch):
    from qms.store import index

    p = Project.open(make_project(tmp_path / "p"))
    listing = index.listing(p)
    before = ops.documents(p, "lead", page=1).total
    monkeypatch.setattr(index, "SWEEP_S", 3600.0)       # no sweep: only the commits count
    stats = []                                           # every file the listing looks at
    real, opened = index.os.lstat, index.atomic.open_regular
    monkeypatch.setattr(index.os, "lstat", lambda path: stats.append(path) or real(path))
    monkeypatch.setattr(index.atomic, "open_regular",
                        lambda path, *a: stats.append(path) or opened(path, *a))
    ops.documents(p, "lead", page=1)
    assert stats == []                                   # nothing changed: no file looked at
    doc = ops.create(p, "claude", doc_type="CR", title="Made by the authority").doc_id
    stats.clear()                                        # the commit's own checks
    result = ops.documents(p, "lead", page=1, query="made by the authority")
    assert [d["doc_id"] for d in result.documents] == [doc] and result.total == before + 1
    assert stats and all(doc in str(path) for path in stats)   # only what the commit touched
    stats.clear()
    ops.documents(p, "lead", page=1)
    assert stats == []
    assert listing.view().by_status["DRAFT"] == 1


@pytest.mark.req("REQ-WEB-022")
def test_a_change_behind_the_servers_back_is_noticed_by_the_sweep(paged):
    meta = paged.root / "QMS/.meta/CR/CR-200.json"
    kept = meta.read_text()
    assert "CR-200" in ids(page_of(paged, "/?q=cr-200"))
    try:
        meta.write_text("{not json")                   # a hand edit: no commit, no journal
        deadline = time.monotonic() + 15
        while "CR-200" in ids(page_of(paged, "/?q=cr-200")):
            assert time.monotonic() < deadline, "the sweep never noticed the edit"
            time.sleep(0.3)
    finally:
        meta.write_text(kept)
    deadline = time.monotonic() + 15
    while "CR-200" not in ids(page_of(paged, "/?q=cr-200")):
        assert time.monotonic() < deadline
        time.sleep(0.3)


@pytest.mark.req("REQ-WEB-021", "REQ-WEB-019")
@pytest.mark.parametrize("width", [390, 1280])
def test_paging_and_search_in_a_browser(paged, browser, shots, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{paged.base}/")
    assert page.locator("table.docs tbody tr").count() == 100
    pager = page.locator("nav.pager")
    assert pager.is_visible() and "page 1 of 3" in pager.inner_text()
    fits(page, width)
    page.screenshot(path=str(shots / f"paging-{width}-1.png"), full_page=True)
    pager.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / f"paging-{width}-pager.png"))
    pager.locator("a[rel=next]").click()
    page.wait_for_url("**/?page=2")
    page.locator("nav.pager").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / f"paging-{width}-2-pager.png"))
    assert page.locator("nav.pager span.current").inner_text() == "2"
    assert page.locator("table.docs tbody tr").first.locator("a.docid").inner_text() == \
        paged.every[100]
    page.fill("input[name=q]", "Paging change 17")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/?q=Paging+change+17")        # no empty fields in the address
    assert page.locator("table.docs tbody tr").count() == 10
    assert page.locator("input[name=q]").input_value() == "Paging change 17"
    assert page.locator("nav.pager").count() == 0
    fits(page, width)
    page.screenshot(path=str(shots / f"paging-{width}-search.png"), full_page=True)
    page.select_option("select[name=status]", "DRAFT")   # the filters keep the search
    page.wait_for_url("**/?status=DRAFT&q=Paging+change+17")
    assert page.locator("table.docs tbody tr").count() == 10
    page.goto(f"{paged.base}/?q=nothing-like-this")
    assert "No document matches" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / f"paging-{width}-none.png"), full_page=True)
    assert errors == []
    context.close()


def fits(page, width: int) -> None:
    """Nothing wider than the window; the pager and the search box inside it."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ("nav.pager a, nav.pager span", "input[name=q]", "form.filters button"):
        for box in [page.locator(selector).nth(i).bounding_box()
                    for i in range(page.locator(selector).count())]:
            assert box is None or box["x"] + box["width"] <= width, selector
