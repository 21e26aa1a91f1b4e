"""Qualification (pure): requirements from an RS, test results from JUnit XML, verdicts.

A requirement is a Markdown table row whose first cell is a requirement ID (``| REQ-X-001 |
statement |``), as the earlier tool's specs are written. A test traces to a requirement
through ``<property name="req" value="REQ-X-001"/>`` (the pytest ``req`` marker writes one per
ID) or through an ID inside its name or classname (e.g. a parametrised id).

Verdicts: ``verified`` (a passing test, none failing), ``failing`` (any failure or error),
``untested`` (no test, or only skipped ones). IDs that tests name but the RS does not are
``unknown``.
"""

from __future__ import annotations

import re

from qms.errors import ValidationError

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

REQ_ID = r"REQ-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d{1,6}"
REQ_ID_RE = re.compile(rf"^{REQ_ID}$")
_REQ_IN_TEXT_RE = re.compile(rf"(?<![A-Za-z0-9_-]){REQ_ID}(?![0-9])")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")

VERIFIED, FAILING, UNTESTED = "verified", "failing", "untested"
PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


def table_cells(line: str) -> list[str]:
    """The cells of a Markdown table row (``\\|`` is a literal bar inside a cell)."""
    inner = line.strip()[1:]
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def requirement_rows(text: str) -> tuple[list[str], dict[str, tuple[list[str], list[str]]]]:
    """Every table row whose first cell is a requirement ID, in document order; a repeated
    ID keeps its first row; code blocks are skipped. Returns the header of the first such
    table (after its ID column) and ``{id: (its table's header, the row's other cells)}``."""
    first_header: list[str] | None = None
    header: list[str] = []
    rows: dict[str, tuple[list[str], list[str]]] = {}
    previous = ""
    fenced = False
    for line in text.splitlines():
        if _FENCE_RE.match(line):
            fenced = not fenced
        if fenced or not line.lstrip().startswith("|"):
            previous = ""
            continue
        cells = table_cells(line)
        first = cells[0].strip("*` ")
        if previous and set("".join(cells)) <= set("-: "):   # the line under a header row
            header = [c.strip("* ") for c in table_cells(previous)[1:]]
        elif REQ_ID_RE.match(first) and first not in rows:
            rows[first] = (header, cells[1:])
            first_header = header if first_header is None else first_header
        previous = line
    return first_header or [], rows


def parse_requirements(text: str) -> list[tuple[str, str]]:
    """``(id, statement)`` for every requirement row (see :func:`requirement_rows`)."""
    return [(req, cells[0] if cells else "") for req, (_, cells) in
            requirement_rows(text)[1].items()]


class TestCase:
    """One ``<testcase>``: its display name, outcome and the requirement IDs it names."""

    __slots__ = ("name", "outcome", "req_ids", "source")

    def __init__(self, name: str, outcome: str, req_ids: list[str], source: str) -> None:
        self.name, self.outcome, self.req_ids, self.source = name, outcome, req_ids, source

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "outcome": self.outcome, "evidence": self.source}


def parse_junit(text: str, source: str) -> list[TestCase]:
    """The test cases of one JUnit XML document (``source`` labels them, e.g. its hash)."""
    return parse_report(text, source)[0]


def parse_report(text: str, source: str) -> tuple[list[TestCase], dict[str, str]]:
    """The test cases of one JUnit XML document and its run properties: the
    ``<property>`` elements of a ``<testsuite>`` (not of a test case), e.g. ``qms.commit``
    and ``qms.dirty`` that the pytest plugin writes (the first value of a name wins).

    A document type declaration is refused outright: with it go entity definitions, the
    road to entity-expansion bombs and external entities."""
    lowered = text.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise ValidationError(f"{source}: JUnit XML with a DOCTYPE or ENTITY declaration is "
                              "refused.")
    from xml.etree import ElementTree as ET  # deferred: only qualify parses XML

    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raise ValidationError(f"{source}: malformed XML ({exc}).") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValidationError(f"{source}: not a JUnit XML report (root element <{root.tag}>, "
                              "expected <testsuites> or <testsuite>).")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    props: dict[str, str] = {}
    for suite in suites:
        for group in suite.findall("properties"):
            for prop in group.findall("property"):
                props.setdefault(prop.get("name") or "", prop.get("value") or "")
    return [_case(node, source) for node in root.iter("testcase")], props


def _case(node: Any, source: str) -> TestCase:
    classname, name = node.get("classname") or "", node.get("name") or ""
    outcome = PASSED
    for child in node:
        if child.tag == "failure":
            outcome = FAILED
            break
        if child.tag == ERROR:
            outcome = ERROR
            break
        if child.tag == SKIPPED:
            outcome = SKIPPED
    ids = [m for p in node.iter("property") if p.get("name") == "req"
           for m in _REQ_IN_TEXT_RE.findall(p.get("value") or "")]
    ids += _REQ_IN_TEXT_RE.findall(f"{classname} {name}")
    display = f"{classname}::{name}" if classname else name
    return TestCase(display, outcome, list(dict.fromkeys(ids)), source)


def evaluate(requirements: list[tuple[str, str]], cases: list[TestCase]) -> dict[str, Any]:
    """``{"requirements": [{id, statement, verdict, tests}], "unknown": [{id, tests}],
    "summary": {...}}``; requirements keep the RS order, unknown IDs are sorted."""
    traced: dict[str, list[TestCase]] = {}
    for case in cases:
        for req_id in case.req_ids:
            traced.setdefault(req_id, []).append(case)
    rows = []
    for req_id, statement in requirements:
        tests = traced.get(req_id, [])
        rows.append({"id": req_id, "statement": statement, "verdict": verdict(tests),
                     "tests": [t.to_dict() for t in tests]})
    known = {req_id for req_id, _ in requirements}
    unknown = [{"id": i, "tests": [t.to_dict() for t in traced[i]]}
               for i in sorted(set(traced) - known)]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (VERIFIED, FAILING, UNTESTED)}
    summary = {"requirements": len(rows), **counts, "unknown": len(unknown),
               "tests": len(cases), "traced_tests": sum(bool(c.req_ids) for c in cases)}
    return {"requirements": rows, "unknown": unknown, "summary": summary}


def verdict(tests: list[TestCase]) -> str:
    outcomes = {t.outcome for t in tests}
    if outcomes & {FAILED, ERROR}:
        return FAILING
    return VERIFIED if PASSED in outcomes else UNTESTED


def gaps(evaluation: dict[str, Any]) -> list[str]:
    """One line per failing or untested requirement and per unknown ID."""
    lines = []
    for row in evaluation["requirements"]:
        if row["verdict"] == FAILING:
            bad = [t["name"] for t in row["tests"] if t["outcome"] in (FAILED, ERROR)]
            lines.append(f"FAILING   {row['id']}: {', '.join(bad)}")
        elif row["verdict"] == UNTESTED:
            skipped = [t["name"] for t in row["tests"]]
            why = f"only skipped tests: {', '.join(skipped)}" if skipped else "no test"
            lines.append(f"UNTESTED  {row['id']}: {why}")
    for item in evaluation["unknown"]:
        names = ", ".join(t["name"] for t in item["tests"])
        lines.append(f"UNKNOWN   {item['id']}: not in the RS; named by {names}")
    return lines
