"""The read-only browsing operations behind the pages, the diff rows, and start-up weight:
fast, in-process, no browser."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _web_support import HOSTILE, build_project
from qms import operations as ops
from qms.errors import NotFound, ValidationError
from qms.store.project import Project


@pytest.fixture(scope="module")
def proj(tmp_path_factory) -> Project:
    return Project.open(build_project(tmp_path_factory.mktemp("browse") / "proj"))


@pytest.mark.req("REQ-WEB-001")
def test_documents_lists_meta_and_titles_with_counts(proj):
    result = ops.documents(proj, "lead")
    ids = [d["doc_id"] for d in result.documents]
    assert ids[:8] == [f"SOP-00{n}" for n in range(1, 9)] and "CR-001" in ids
    assert result.total == len(ids) == sum(result.by_type.values())
    cr = next(d for d in result.documents if d["doc_id"] == "CR-001")
    assert cr["title"] == HOSTILE and cr["status"] == "IN_PRE_REVIEW"
    assert cr["pending_assignees"] == ["tu"]
    assert [d["doc_id"] for d in result.waiting] == ["CR-001"]
    only = ops.documents(proj, "lead", doc_type="CR", status="IN_EXECUTION")
    assert [d["doc_id"] for d in only.documents] == ["CR-002"]
    assert only.by_status == result.by_status          # counts are over the whole project


@pytest.mark.req("REQ-WEB-001")
def test_listing_follows_changes_and_skips_damaged_meta(tmp_path):
    root = build_project(tmp_path / "p")
    p = Project.open(root)
    before = {d["doc_id"]: d for d in ops.documents(p, "lead").documents}
    ops.checkout(p, "claude", doc_id="CR-002")
    ops.checkin(p, "claude", doc_id="CR-002", content="---\ntitle: Renamed\n---\n\nx\n")
    (root / "QMS/.meta/CR/CR-009.json").write_text("{not json")
    after = {d["doc_id"]: d for d in ops.documents(p, "lead").documents}
    assert before["CR-002"]["title"] == "Released change" and after["CR-002"]["title"] == "Renamed"
    assert "CR-009" not in after


@pytest.mark.req("REQ-WEB-002")
def test_document_versions(proj):
    result = ops.document_versions(proj, "lead", doc_id="sop-008")
    assert [v["version"] for v in result.versions] == ["0.1", "1.0", "1.1"]
    assert all(v["readable"] for v in result.versions)
    assert result.versions[-1]["status"] == "DRAFT" and result.effective == "1.0"
    with pytest.raises(NotFound):
        ops.document_versions(proj, "lead", doc_id="SOP-999")


@pytest.mark.req("REQ-WEB-003")
def test_trace_joins_rs_and_rtm(proj):
    result = ops.trace(proj, "lead", namespace="qms")
    assert [r["id"] for r in result.requirements] == ["REQ-WEB-001", "REQ-WEB-002"]
    assert result.requirements[0]["rtm"][-1] == "PASS" and result.requirements[1]["rtm"] is None
    assert result.columns == ["Test", "Status"] and result.unknown == ["REQ-OTHER-009"]
    with pytest.raises(NotFound):
        ops.trace(proj, "lead", namespace="NOPE")
    with pytest.raises(ValidationError):
        ops.trace(proj, "lead", namespace="../x")


@pytest.mark.req("REQ-WEB-004")
def test_diff_rows_mark_added_and_removed_lines():
    from qms.web.app import diff_hunks

    hunks, added, removed = diff_hunks("a\nb\nc\n", "a\nB\nc\nd\n")
    kinds = [(r["kind"], "".join(t for t, _ in r["parts"])) for h in hunks for r in h["rows"]]
    assert ("del", "b") in kinds and ("add", "B") in kinds and ("add", "d") in kinds
    assert (added, removed) == (2, 1)
    rows = diff_hunks("Keep the records.\n", "Keep all the records.\n")[0][0]["rows"]
    assert [p for p in rows[1]["parts"] if p[1]] == [(" all", True)]
    assert diff_hunks("same\n", "same\n") == ([], 0, 0)


@pytest.mark.req("REQ-WEB-005")
def test_review_comments_of_an_open_round_stay_hidden(proj):
    from qms.domain.rounds import seal

    trail = [{"event": "ROUTE_REVIEW", "version": "0.1"},
             {"event": "REVIEW", "version": "0.1", "user": "qa", "comment": "secret",
              "outcome": "RECOMMEND", "meaning": "review: recommend"}]
    shown = seal(trail, "IN_REVIEW", None)[1]
    assert shown["sealed"] and not {"comment", "outcome", "meaning"} & set(shown)
    assert seal(trail, "REVIEWED", None) == trail


@pytest.mark.req("REQ-WEB-012")
def test_web_adapter_calls_read_only_operations_only():
    from pathlib import Path

    import qms.web.app as app

    called = set(__import__("re").findall(r"\bops\.(\w+)\(", Path(app.__file__).read_text()))
    assert called and called <= {"documents", "document_versions", "status", "read", "history",
                                 "inbox", "trace", "namespace_list", "comments", "verify",
                                 "export_pdf", "code_record"}


@pytest.mark.req("REQ-WEB-013")
def test_cli_and_stdio_never_load_the_web_stack(tmp_path):
    probe = ("import sys, json\nfrom qms.cli.main import main\nmain(sys.argv[1:])\n"
             "import qms.server.main, qms.server.app\n"
             "print(json.dumps([m for m in ('jinja2', 'markdown_it', 'qms.web.app') "
             "if m in sys.modules]))")
    from _web_support import make_project

    root = make_project(tmp_path / "proj")
    run = subprocess.run([sys.executable, "-c", probe, "--user", "qa", "read", "SOP-001"],
                         cwd=root, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []


@pytest.mark.req("REQ-WEB-016")
def test_every_page_goes_through_the_one_auth_hook(proj, monkeypatch):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.testclient import TestClient

    from qms.web import app as web_app, auth

    seen = []

    async def refuse(request, project, mode):
        assert project is proj
        seen.append(request.url.path)
        return PlainTextResponse("sign in first", 401)

    monkeypatch.setattr(auth, "authenticate", refuse)
    server = Starlette()
    web_app.mount(server, proj)
    client = TestClient(server)
    pages = ["/", "/documents/SOP-008", "/documents/SOP-008/versions/1.0",
             "/documents/SOP-008/diff?a=1.0&b=1.1", "/documents/SOP-008/diff/1.0/1.1",
             "/inbox/tu", "/trace", "/trace/QMS", "/verify", "/documents/SOP-008/export.pdf"]
    for path in pages:
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.text) == (401, "sign in first"), path
    for path in ("/passkey/sign/options", "/passkey/sign"):  # signing acts: the hook first
        response = client.post(path, json={}, follow_redirects=False)
        assert (response.status_code, response.text) == (401, "sign in first"), path
    assert len(seen) == len(pages) + 2
    signing_in = {"/signin", "/signout", "/passkey/enroll", "/passkey/signin",
                  "/passkey/signin/options", "/passkey/signout"}  # before an identity exists
    routed = {r.path for r in server.router.routes} - {"/static/{name}", *signing_in}
    assert len(routed) == len(pages) + 2      # a new page must be added to this test
    assert client.get("/static/web.css").status_code == 200   # assets need no identity


@pytest.mark.req("REQ-WEB-011")
def test_background_server_keeps_no_web():
    import argparse
    from pathlib import Path

    from qms.server.main import _parser, _serve_args

    args = _parser("start").parse_args(["--no-web"])
    assert "--no-web" in _serve_args(args, Path("/p"))
    assert "--no-web" not in _serve_args(_parser("start").parse_args([]), Path("/p"))
    assert isinstance(args, argparse.Namespace)


@pytest.mark.req("REQ-WEB-002")
def test_every_page_of_the_legacy_project_renders(tmp_path):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from _web_support import _root
    from qms.web import app as web_app

    root = _root.copy_legacy(tmp_path / "legacy")   # skips without ../shared
    project = Project.open(root)
    server = Starlette()
    web_app.mount(server, project)
    client = TestClient(server)
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    listed = ops.documents(project, "lead").documents
    metas = [p for p in (root / "QMS" / ".meta").glob("*/*.json")
             if not p.name.endswith(".source.json")]
    assert len(listed) == len(metas) > 20
    failures = []
    for doc in listed:
        response = client.get(f"/documents/{doc['doc_id']}")
        if response.status_code != 200:
            failures.append((doc["doc_id"], response.status_code, response.text[-300:]))
    assert failures == []
    for ns in ops.namespace_list(project, "lead").namespaces:
        assert client.get(f"/trace/{ns}").status_code in (200, 404), ns


@pytest.mark.req("REQ-WEB-015")
def test_warm_listing_rereads_only_changed_files(tmp_path, monkeypatch):
    from qms.store import atomic, index

    p = Project.open(build_project(tmp_path / "p"))
    opened = []
    open_regular = atomic.open_regular

    def counting_open(path, *args, **kwargs):
        found = open_regular(path, *args, **kwargs)
        if found is not None:                       # an absent draft is no read
            opened.append(str(path))
        return found

    monkeypatch.setattr(index.atomic, "open_regular", counting_open)
    cold = len(index.entries(p))
    assert len(opened) >= 2 * cold            # every meta file and one document file each
    opened.clear()
    index.entries(p)
    assert opened == []                       # nothing changed: nothing read again
    ops.checkout(p, "claude", doc_id="CR-002")
    ops.checkin(p, "claude", doc_id="CR-002", content="---\ntitle: New\n---\n\nx\n")
    opened.clear()                            # the commit's own reads are not the listing's
    index.entries(p)
    assert opened and all("CR-002" in path for path in opened)


@pytest.mark.req("REQ-WEB-006")
def test_markdown_never_passes_html_or_script_links(proj):
    from qms.web.app import Web

    html = Web(proj).body("---\ntitle: x\n---\n\n# Hi <script>alert(1)</script>\n\n"
                          "[click](javascript:alert(1)) <img src=x onerror=alert(1)>\n"
                          "<!-- authoring note -->\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert "&lt;script&gt;" in html and "authoring note" not in html
    assert "<table>" in html and "title: x" not in html


def page_html(project: Project, handler: str, **params) -> str:
    """One page rendered in-process (no server): the handler with a real request object."""
    from starlette.requests import Request

    from qms.web.app import Web

    web = Web(project)
    request = Request({"type": "http", "method": "GET", "path": "/", "query_string": b"",
                       "headers": [(b"host", b"127.0.0.1:8000")], "scheme": "http",
                       "server": ("127.0.0.1", 8000), "path_params": params})
    return getattr(web, handler)(request, "lead").body.decode()


@pytest.mark.req("REQ-WEB-003")
def test_trace_keeps_rtm_cells_without_a_header_row(tmp_path):
    """An RTM table written without a header row (or with a short one) loses no cell."""
    from _web_support import make_project

    p = Project.open(make_project(tmp_path / "p"))
    ops.namespace_add(p, "lead", name="APP")
    for kind, body in (("RS", "| REQ-APP-001 | Sign in |\n| REQ-APP-002 | Sign out |\n"),
                       ("RTM", "| REQ-APP-001 | tests/test_a.py::test_in | PASS |\n\n"
                               "| REQ | Test |\n|---|---|\n| REQ-APP-002 | t.py::test_out | FAIL |\n")):
        doc = ops.create(p, "claude", doc_type=f"APP-{kind}", title=kind).doc_id
        ops.checkin(p, "claude", doc_id=doc,
                    content=f"---\ntitle: {kind}\nrevision_summary: x\n---\n\n{body}")
    html = page_html(p, "trace", namespace="APP")
    assert "tests/test_a.py::test_in" in html and ">PASS</span>" in html
    assert "t.py::test_out" in html and ">FAIL</span>" in html


@pytest.mark.req("REQ-WEB-002")
def test_document_page_states_the_current_version_and_one_signer_column(proj):
    executing = page_html(proj, "document", doc_id="CR-002")   # released: IN_EXECUTION v1.0
    assert "<dt>Current</dt><dd>In execution under the approved v1.0</dd>" in executing
    assert "In force" not in executing
    revising = page_html(proj, "document", doc_id="SOP-008")   # v1.0 in force, v1.1 draft
    assert "<dt>Current</dt><dd>v1.0 is in force; v1.1 is a revision (DRAFT)</dd>" in revising
    head = revising[revising.index('id="signatures"'):]
    head = head[head.index("<thead>"):head.index("</thead>")]
    assert head.count("<th>") == 5 and "Signed by" in head and "Name" not in head


@pytest.mark.req("REQ-PK-003")
def test_signing_panel_only_where_a_signature_is_awaited(proj):
    """The passkey panel stands on a page only while the document waits for a signature."""
    assert 'id="sign"' in page_html(proj, "document", doc_id="CR-001")      # in pre-review
    for doc_id in ("CR-002", "SOP-001"):                                     # executing, in force
        assert 'id="sign"' not in page_html(proj, "document", doc_id=doc_id)


@pytest.mark.req("REQ-WEB-018")
def test_verify_page_counts_documents_and_electronic_signatures(proj):
    html = page_html(proj, "verify")
    total = ops.documents(proj, "lead").total            # what the dashboard counts
    result = ops.verify(proj, "qa")
    assert result.documents == total + 1 and result.electronic_signatures >= 6  # + CR-003
    assert (f"{total} documents (and 1 cancelled) · {result.electronic_signatures} electronic "
            "signatures") in html
