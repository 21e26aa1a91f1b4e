"""Routing refuses a document that still holds its template's ``{{...}}`` placeholders."""

from __future__ import annotations

import pytest

from qms.domain.templates import placeholders

req = pytest.mark.req


def unfilled(q, doc_id: str) -> None:
    """Put the template's text back into the workspace copy (``create`` gave the test a filled
    one, see tests/conftest.py)."""
    q.workspace_file("claude", doc_id).write_text(q.draft(doc_id).read_text())


@req("REQ-WF-024")
@pytest.mark.parametrize("kind", ["CR", "SOP", "INV"])
def test_routing_an_unfilled_template_is_refused_and_changes_nothing(q, digest, kind):
    doc = q.create(kind, "Half done")
    unfilled(q, doc)
    before = digest(q.root)
    run = q.fail("claude", "route", doc, "--review", match="unfilled template placeholder")
    assert "{{PURPOSE: " in run.err and "line " in run.err and "more)" in run.err
    assert digest(q.root) == before
    assert q.status(doc) == "DRAFT" and q.meta(doc)["checked_out"]
    details = q.json("claude", "route", doc, "--review")["error"]["details"]
    first = details["placeholders"][0]
    lines = q.workspace_file("claude", doc).read_text().splitlines()
    assert first["placeholder"] in lines[first["line"] - 1]  # the line it names holds it


@req("REQ-WF-024")
def test_one_left_over_placeholder_is_named_and_filling_it_routes(q):
    doc = q.create("CR", "Nearly done")
    path = q.workspace_file("claude", doc)
    path.write_text(path.read_text() + "\nOwner: {{TEAM}}\n")
    run = q.fail("claude", "route", doc, "--review")
    n = len(path.read_text().splitlines())
    assert f"1 unfilled template placeholder {{{{...}}}}: line {n}: {{{{TEAM}}}}." in run.err
    path.write_text(path.read_text().replace("{{TEAM}}", "Platform team"))
    q.ok("claude", "route", doc, "--review")
    assert q.status(doc) == "IN_PRE_REVIEW"


@req("REQ-WF-024")
def test_templates_themselves_route_with_their_placeholders(q):
    doc = q.create("TEMPLATE", "Release Note Template", "claude", "--name", "RN")
    path = q.workspace_file("claude", doc)
    path.write_text(path.read_text() + "\n# RN-XXX: {{TITLE}}\n")
    q.ok("claude", "route", doc, "--review")


def test_shown_placeholders_do_not_count():
    text = ("Fill `{{id}}` and ``{{x}}``.\n<!-- {{GUIDE}}\n{{MORE}} -->\n```\n{{code}}\n```\n"
            "~~~~\n{{tilde}}\n~~~~\nLeft: {{LEFT}} and {{ RIGHT }}\n")
    assert placeholders(text) == [(10, "{{LEFT}}"), (10, "{{ RIGHT }}")]
    assert placeholders("{{ }} {x} { {y} } {{a\nb}}") == [(1, "{{ }}")]
