"""Template parser: the tag grammar and precise errors."""

from __future__ import annotations

import pytest

from qms.domain.interact.template import LoopBody, parse_template
from qms.errors import ValidationError

pytestmark = pytest.mark.req("REQ-INT-001")

HEAD = "<!-- @template: T | version: 2 | start: a -->\n"


def mini(body: str, head: str = HEAD) -> str:
    return head + "---\ntitle: '{{title}}'\n---\n\n" + body


@pytest.mark.req("REQ-INT-002")
@pytest.mark.req("REQ-INT-003")
@pytest.mark.req("REQ-INT-004")
@pytest.mark.req("REQ-INT-005")
def test_legacy_vr_template_graph(vr_template):
    t = vr_template
    assert (t.name, t.version, t.start) == ("VR", 5, "related_eis")
    assert list(t.nodes) == ["related_eis", "objective", "pre_conditions", "step_instructions",
                             "step_expected", "step_actual", "step_outcome", "more_steps",
                             "summary_outcome", "summary_narrative"]
    assert t.nodes["step_actual"].commit and not t.nodes["step_expected"].commit
    gate = t.nodes["more_steps"]
    assert (gate.kind, gate.yes, gate.no, gate.loop) == ("gate", "step_instructions",
                                                         "summary_outcome", "steps")
    assert t.loops["steps"].entry == "step_instructions"
    assert t.nodes["summary_narrative"].next == "end"
    assert t.frontmatter == {"title": "{{title}}", "revision_summary": "Initial draft"}


def test_guidance_is_captured_and_removed_from_body(vr_template):
    guidance = vr_template.nodes["objective"].guidance
    assert guidance.startswith("State what CAPABILITY")
    assert guidance.endswith('returns 200"')
    body = "\n".join(seg.text for seg in vr_template.body if not isinstance(seg, LoopBody))
    assert "CAPABILITY" not in body and "@prompt" not in body and "@template" not in body
    assert "TEMPLATE DOCUMENT NOTICE" not in body
    assert body.count("\n---\n") >= 3  # horizontal rules are body text, never separators


def test_seed_template_parses():
    from importlib.resources import files
    text = files("qms.resources").joinpath("templates/TEMPLATE-VR.md").read_text()
    t = parse_template(text)
    assert t.name == "VR" and "steps" in t.loops


def test_guidance_without_end_prompt_stops_at_structure():
    t = parse_template(mini(
        "<!-- @prompt: a | next: end -->\nAsk this.\nMore advice.\n\n## Heading\n{{a}}\n"))
    assert t.nodes["a"].guidance == "Ask this.\nMore advice."
    assert [seg.text for seg in t.body if seg.text] == ["## Heading", "{{a}}"]


def test_explicit_guidance_may_hold_structure():
    t = parse_template(mini(
        "<!-- @prompt: a | next: end -->\nExample:\n\n| x | y |\n---\n<!-- @end-prompt -->\n{{a}}\n"))
    assert "| x | y |" in t.nodes["a"].guidance
    assert [seg.text for seg in t.body if seg.text] == ["{{a}}"]


def test_tags_inside_code_fences_are_text():
    t = parse_template(mini(
        "<!-- @prompt: a | next: end -->\n<!-- @end-prompt -->\n```\n<!-- @prompt: b | next: end -->\n```\n"))
    assert list(t.nodes) == ["a"]
    assert "<!-- @prompt: b | next: end -->" in [seg.text for seg in t.body]


def test_plain_comments_in_body_are_kept():
    t = parse_template(mini("<!-- @prompt: a | next: end -->\n<!-- @end-prompt -->\n"
                            "<!-- keep me -->\n{{a}}\n"))
    assert "<!-- keep me -->" in [seg.text for seg in t.body]


def test_attributes_are_coerced():
    t = parse_template(mini("<!-- @prompt: a | next: end | commit: true | default: today -->\n"))
    assert t.nodes["a"].commit is True and t.nodes["a"].default == "today"


def test_multiline_template_header_comment():
    text = "<!--\n@template: X | version: 1 | start: a\n\nReference text\n-->\n" + mini(
        "<!-- @prompt: a | next: end -->\n", head="")
    assert parse_template(text).name == "X"


@pytest.mark.parametrize("body, line, fragment", [
    ("<!-- @prompt: a -->\n", 6, "needs 'next"),
    ("<!-- @prompt: a | next: b -->\n", 6, "'b', which is not defined"),
    ("<!-- @prompt: a | next: end -->\n<!-- @prompt: a | next: end -->\n", 7, "already defined on line 6"),
    ("<!-- @promt: a | next: end -->\n", 6, "unknown tag '@promt'"),
    ("<!-- @prompt: a | nxt: end -->\n", 6, "unknown attribute 'nxt'"),
    ("<!-- @prompt: a | next: end | next: end -->\n", 6, "given twice"),
    ("<!-- @prompt: a | next: end | commit: maybe -->\n", 6, "commit must be true or false"),
    ("<!-- @gate: a | yes: end -->\n", 6, "needs 'no"),
    ("<!-- @gate: a | type: choice | yes: end | no: end -->\n", 6, "not supported"),
    ("<!-- @loop: s -->\n<!-- @prompt: a | next: end -->\n", 6, "never closed"),
    ("<!-- @loop: s -->\n<!-- @prompt: a | next: end -->\n<!-- @end-loop: t -->\n", 8,
     "does not match @loop: s (line 6)"),
    ("<!-- @loop: s -->\n<!-- @loop: t -->\n", 7, "nested @loop"),
    ("<!-- @end-loop: s -->\n", 6, "without an open @loop"),
    ("<!-- @loop: s -->\n<!-- @end-loop: s -->\n<!-- @prompt: a | next: end -->\n", 6, "contains no"),
    ("<!-- @end-prompt -->\n", 6, "without a preceding"),
    ("<!-- @prompt: a | next: end\n", 6, "never closed ('-->' missing)"),
    ("<!-- @prompt: a | next: end --> tail\n", 6, "text after"),
    ("<!-- @prompt: a | next: end -->\n```\nopen fence\n", 9, "never closed"),
    ("<!-- @prompt: a | next: b -->\n<!-- @loop: s -->\n<!-- @prompt: x | next: b -->\n"
     "<!-- @prompt: b | next: end -->\n<!-- @end-loop: s -->\n", 6, "jumps into loop 's'"),
    ("<!-- @prompt: bad.id | next: end -->\n", 6, "invalid name"),
    ("<!-- @end -->\n<!-- @end -->\n<!-- @prompt: a | next: end -->\n", 7, "second @end"),
])
def test_malformed_templates_name_the_line(body, line, fragment):
    with pytest.raises(ValidationError) as err:
        parse_template(mini(body))
    assert f"line {line}:" in err.value.message and fragment in err.value.message
    assert err.value.details["line"] == line


def test_example_frontmatter_must_be_a_mapping():
    with pytest.raises(ValidationError, match="line 3: example frontmatter is not valid YAML"):
        parse_template(HEAD + "---\ntitle: [unclosed\n---\n")
    with pytest.raises(ValidationError, match="line 3: example frontmatter must be"):
        parse_template(HEAD + "---\n- a list\n---\n")


def test_header_errors():
    with pytest.raises(ValidationError, match="no '@template"):
        parse_template("# just text\n")
    with pytest.raises(ValidationError, match="needs 'start"):
        parse_template("<!-- @template: T | version: 1 -->\n")
    with pytest.raises(ValidationError, match="line 3: @template needs 'start"):
        parse_template("<!--\n\n@template: T | version: 1\nreference text\n-->\n")
    with pytest.raises(ValidationError, match="line 2: @prompt must be the only content"):
        parse_template(HEAD + "<!-- @prompt: a | next: end\nmore -->\n")
    with pytest.raises(ValidationError, match="start 'zz' is not"):
        parse_template("<!-- @template: T | version: 1 | start: zz -->\n")
    with pytest.raises(ValidationError, match="line 2: second @template"):
        parse_template(HEAD + HEAD + "<!-- @prompt: a | next: end -->\n")
