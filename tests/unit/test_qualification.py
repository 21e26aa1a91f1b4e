"""Qualification domain (pure): RS rows, JUnit parsing and its defences, verdicts, the RTM."""

from __future__ import annotations

import time

import pytest

from conftest import LEGACY
from qms.domain import qualification as qual
from qms.domain import rtm
from qms.errors import ValidationError

pytestmark = pytest.mark.req("REQ-QUAL-002")


@pytest.mark.req("REQ-QUAL-001")
def test_requirement_rows():
    text = """
| REQ ID | Requirement |
|---|---|
| REQ-A-001 | First \\| with a bar |
| **REQ-A-002** | Bold ID |
|REQ-MCP-SSE-003|Tight|
| REQ-A-001 | repeated: first row wins |
| Not-REQ | x |
| see REQ-A-009 | ID not first |
```
| REQ-A-004 | fenced |
```
REQ-A-005 outside a table
"""
    assert qual.parse_requirements(text) == [
        ("REQ-A-001", "First \\| with a bar"), ("REQ-A-002", "Bold ID"),
        ("REQ-MCP-SSE-003", "Tight")]


@pytest.mark.req("REQ-QUAL-001")
def test_the_earlier_tools_rs_parses():
    rs = LEGACY / "QMS" / "SDLC-QMS" / "SDLC-QMS-RS.md"
    if not rs.is_file():
        pytest.skip(f"legacy fixture not found at {rs}")
    rows = qual.parse_requirements(rs.read_text(encoding="utf-8"))
    assert rows[0][0] == "REQ-SEC-001" and "User Group Classification" in rows[0][1]
    assert len(rows) > 100 and len({r[0] for r in rows}) == len(rows)


def test_junit_outcomes_and_traces():
    cases = qual.parse_junit(
        '<testsuite><testcase classname="a.b" name="t1"><properties>'
        '<property name="req" value="REQ-X-001"/><property name="req" value="REQ-X-001"/>'
        '</properties></testcase>'
        '<testcase name="t2[REQ-X-002-extra]"><skipped/></testcase>'
        '<testcase classname="c" name="t3"><failure/><system-out>REQ-X-009</system-out></testcase>'
        '<testcase classname="c" name="t4"><error/></testcase>'
        '<testcase classname="c" name="xREQ-X-007"/></testsuite>', "f")
    assert [(c.name, c.outcome, c.req_ids) for c in cases] == [
        ("a.b::t1", "passed", ["REQ-X-001"]), ("t2[REQ-X-002-extra]", "skipped", ["REQ-X-002"]),
        ("c::t3", "failed", []), ("c::t4", "error", []), ("c::xREQ-X-007", "passed", [])]


def test_nested_suites_and_the_single_suite_root():
    doc = ('<testsuites><testsuite><testsuite><testcase name="t[REQ-Y-001]"/></testsuite>'
           '</testsuite></testsuites>')
    assert [c.req_ids for c in qual.parse_junit(doc, "f")] == [["REQ-Y-001"]]
    assert qual.parse_junit("<testsuite/>", "f") == []


@pytest.mark.parametrize("doc", [
    '<?xml version="1.0"?><!DOCTYPE t [' + "".join(
        f'<!ENTITY e{i} "{"&e%d;" % (i - 1) * 10 if i else "ha"}">' for i in range(10))
    + ']><testsuite><testcase name="&e9;"/></testsuite>',
    '<!doctype testsuite SYSTEM "http://127.0.0.1:9/x.dtd"><testsuite/>',
    '<testsuite><!ENTITY x "y"></testsuite>',
])
def test_hostile_xml_is_refused_before_parsing(doc):
    start = time.monotonic()
    with pytest.raises(ValidationError, match="DOCTYPE or ENTITY"):
        qual.parse_junit(doc, "evil.xml")
    assert time.monotonic() - start < 1


def test_verdicts_and_unknown_ids():
    def case(outcome: str, *ids: str) -> qual.TestCase:
        return qual.TestCase(f"t-{outcome}-{'-'.join(ids)}", outcome, list(ids), "e")

    cases = [case("passed", "R-1"), case("passed", "REQ-A-1"), case("failed", "REQ-A-1"),
             case("skipped", "REQ-A-2"), case("passed", "REQ-Z-9"), case("error", "REQ-A-3"),
             case("skipped", "REQ-A-3")]
    ev = qual.evaluate([("REQ-A-1", ""), ("REQ-A-2", ""), ("REQ-A-3", ""), ("REQ-A-4", "")], cases)
    assert [(r["id"], r["verdict"]) for r in ev["requirements"]] == [
        ("REQ-A-1", "failing"), ("REQ-A-2", "untested"), ("REQ-A-3", "failing"),
        ("REQ-A-4", "untested")]
    assert [u["id"] for u in ev["unknown"]] == ["R-1", "REQ-Z-9"]
    assert len(qual.gaps(ev)) == 6


@pytest.mark.req("REQ-QUAL-005")
def test_rtm_block_escapes_and_splices():
    ev = qual.evaluate([("REQ-A-1", "")],
                       [qual.TestCase("t[a|b`c]", "passed", ["REQ-A-1"], "e")])
    block = rtm.block("SDLC-A-RS", "1.0", ev, [], {"date": "d", "user": "u"})
    assert "| REQ-A-1 | verified | `t[a\\|b'c]` (passed) |" in block
    assert qual.parse_requirements(block) == [("REQ-A-1", "verified")]  # one row per ID
    fresh = rtm.splice("# old template\n", block, "# HEAD")
    assert fresh == f"# HEAD\n\n{block}\n"
    kept = rtm.splice(f"intro\n{block}\noutro\n", "NEW", "# HEAD")
    assert kept == "intro\nNEW\noutro\n"
