"""qms qualifies itself: qualification/ is a real QMS project whose effective SDLC-QMS-RS
(approved through the workflow) is the source table, and CI gates on `qualify --check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qms.domain.qualification import parse_requirements
from qms.store import frontmatter

pytestmark = pytest.mark.req("REQ-QUAL-009")

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "qualification"
RS = PROJECT / "QMS" / "SDLC-QMS" / "SDLC-QMS-RS.md"


def test_the_rs_is_effective_and_matches_its_source():
    meta = json.loads((PROJECT / "QMS" / ".meta" / "QMS-RS" / "SDLC-QMS-RS.json").read_text())
    assert meta["status"] == "EFFECTIVE" and not meta["checked_out"]
    source = (PROJECT / "requirements.md").read_text(encoding="utf-8")
    effective = RS.read_text(encoding="utf-8")
    assert frontmatter.split(effective)[1].strip() == frontmatter.split(source)[1].strip(), (
        "qualification/requirements.md differs from the effective SDLC-QMS-RS: take it "
        "through the workflow with scripts/revise-rs.sh")
    ids = [i for i, _ in parse_requirements(effective)]
    assert len(ids) > 100 and {f"REQ-QUAL-00{n}" for n in range(1, 10)} <= set(ids)


def test_every_version_went_through_review_and_approval():
    events = [json.loads(line) for line in
              (PROJECT / "QMS" / ".audit" / "QMS-RS" / "SDLC-QMS-RS.jsonl").read_text().splitlines()]
    effective = [e for e in events if e["event"] == "EFFECTIVE"]
    assert effective
    for event in effective:
        approved = event["from_version"]
        kinds = {(e["event"], e["user"]) for e in events if e["version"] == approved}
        assert {("REVIEW", "qa"), ("APPROVE", "qa")} <= kinds, approved


def test_ci_gates_on_qualify_check():
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash scripts/test.sh --junitxml=" in ci
    assert "qualify QMS --check" in ci and "QMS_PROJECT_ROOT=qualification" in ci
