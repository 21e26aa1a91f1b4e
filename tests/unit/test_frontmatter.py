"""Document frontmatter parsing and minimal rewriting."""

from __future__ import annotations

import pytest
from qms.errors import ValidationError
from qms.store import frontmatter as fm

req = pytest.mark.req


def test_split_basic():
    meta, body = fm.split("---\ntitle: Hello\nrevision_summary: x\n---\n\n# Body\n")
    assert meta == {"title": "Hello", "revision_summary": "x"}
    assert body == "\n# Body\n"


def test_no_frontmatter():
    assert fm.split("# Just a body\n---\n") == ({}, "# Just a body\n---\n")
    assert fm.split("") == ({}, "")
    assert fm.split("----\nnot: fm\n") == ({}, "----\nnot: fm\n")


def test_body_horizontal_rules_are_not_frontmatter():
    text = "---\ntitle: T\n---\nA\n\n---\n\nB\n---\nC\n"
    meta, body = fm.split(text)
    assert meta == {"title": "T"}
    assert body == "A\n\n---\n\nB\n---\nC\n"


def test_crlf_and_empty_frontmatter():
    meta, body = fm.split("---\r\ntitle: T\r\n---\r\nbody\r\n")
    assert meta["title"] == "T" and body == "body\r\n"
    assert fm.split("---\n---\nbody") == ({}, "body")


def test_closing_marker_at_end_of_file():
    assert fm.split("---\ntitle: T\n---") == ({"title": "T"}, "")


@pytest.mark.parametrize("bad,fragment", [
    ("---\ntitle: T\nno end\n", "never closed"),
    ("---\ntitle: [unclosed\n---\nbody\n", "Malformed frontmatter"),
    ("---\n- a\n- b\n---\nbody\n", "key: value"),
    ("---\njust text\n---\nbody\n", "key: value"),
    ("---\ntitle: a: b: c\n---\n", "Malformed frontmatter"),
])
def test_malformed_frontmatter_is_a_clear_error(bad, fragment):
    with pytest.raises(ValidationError) as exc:
        fm.split(bad)
    assert fragment in exc.value.message
    assert "\n" not in exc.value.message


def test_yaml_python_tags_are_not_executed():
    with pytest.raises(ValidationError):
        fm.split("---\ntitle: !!python/object/apply:os.system ['true']\n---\n")


@req("REQ-META-001")
@req("REQ-TEMPLATE-004")
def test_minimal_keeps_only_title_and_revision_summary():
    text = ("---\ntitle: T\nstatus: EFFECTIVE\nversion: '3.0'\nchecked_out: true\n"
            "doc_id: SOP-001\n---\n\n# Body\n")
    out = fm.minimal(text)
    meta, body = fm.split(out)
    assert list(meta) == ["title", "revision_summary"]
    assert meta == {"title": "T", "revision_summary": "Initial draft"}
    assert body == "\n# Body\n"


def test_minimal_adds_frontmatter_when_missing():
    out = fm.minimal("# Body only\n", default_title="Default")
    meta, body = fm.split(out)
    assert meta == {"title": "Default", "revision_summary": "Initial draft"}
    assert body.strip() == "# Body only"


def test_minimal_is_idempotent_and_round_trips_odd_titles():
    for title in ["a: b", "it's \"quoted\"", "# hash", "- dash", "ünïcødé ✓", "123", "null", "yes"]:
        out = fm.dump({"title": title, "revision_summary": "r"}) + "\nbody\n"
        assert fm.split(out)[0]["title"] == title
        assert fm.minimal(out) == out
        assert fm.minimal(fm.minimal(out)) == out


def test_non_string_values_become_text():
    out = fm.minimal("---\ntitle: 123\nrevision_summary: null\n---\nbody\n")
    assert fm.split(out)[0] == {"title": "123", "revision_summary": ""}


def test_title_of():
    assert fm.title_of(None) == ""
    assert fm.title_of("---\ntitle: T\n---\n") == "T"
    assert fm.title_of("---\ntitle: [broken\n---\n") == ""
    assert fm.title_of("no fm") == ""


def test_dump_is_safe_yaml():
    out = fm.dump({"title": "x\n---\ninjected: true", "revision_summary": "r"})
    meta, body = fm.split(out + "body")
    assert meta["title"] == "x\n---\ninjected: true"
    assert body == "body"
