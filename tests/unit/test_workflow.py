"""The workflow state machine (pure domain)."""

from __future__ import annotations

import pytest

from qms.domain import workflow as wf
from qms.errors import InvalidTransition

req = pytest.mark.req

ALL = ["DRAFT", "IN_REVIEW", "REVIEWED", "IN_APPROVAL", "APPROVED", "EFFECTIVE",
       "IN_PRE_REVIEW", "PRE_REVIEWED", "IN_PRE_APPROVAL", "PRE_APPROVED", "IN_EXECUTION",
       "IN_POST_REVIEW", "POST_REVIEWED", "IN_POST_APPROVAL", "POST_APPROVED", "CLOSED",
       "RETIRED"]
PHASES = [None, wf.PRE_RELEASE, wf.POST_RELEASE]


@req("REQ-WF-002")
def test_non_executable_path():
    status = wf.route_review("DRAFT", None)[0]
    assert status == "IN_REVIEW"
    status = wf.review_done(status)
    assert status == "REVIEWED"
    status = wf.route_approval(status)[0]
    assert status == "IN_APPROVAL"
    assert wf.approval_done(status) == "APPROVED"


@req("REQ-WF-003")
def test_executable_path():
    s = wf.route_review("DRAFT", wf.PRE_RELEASE)[0]
    assert s == "IN_PRE_REVIEW"
    s = wf.review_done(s)
    assert s == "PRE_REVIEWED"
    s = wf.route_approval(s)[0]
    assert s == "IN_PRE_APPROVAL"
    assert wf.approval_done(s) == "PRE_APPROVED"
    s = wf.route_review("IN_EXECUTION", wf.POST_RELEASE)[0]
    assert s == "IN_POST_REVIEW"
    s = wf.review_done(s)
    assert s == "POST_REVIEWED"
    s = wf.route_approval(s)[0]
    assert s == "IN_POST_APPROVAL"
    assert wf.approval_done(s) == "POST_APPROVED"


def test_route_types_named_in_audit():
    assert wf.route_review("DRAFT", None) == ("IN_REVIEW", "REVIEW")
    assert wf.route_review("DRAFT", wf.PRE_RELEASE) == ("IN_PRE_REVIEW", "PRE_REVIEW")
    assert wf.route_review("DRAFT", wf.POST_RELEASE) == ("IN_POST_REVIEW", "POST_REVIEW")
    assert wf.route_approval("REVIEWED") == ("IN_APPROVAL", "APPROVAL")
    assert wf.route_approval("PRE_REVIEWED") == ("IN_PRE_APPROVAL", "PRE_APPROVAL")
    assert wf.route_approval("POST_REVIEWED") == ("IN_POST_APPROVAL", "POST_APPROVAL")


@req("REQ-WF-001")
@req("REQ-WF-011")
@pytest.mark.parametrize("status", ALL)
@pytest.mark.parametrize("phase", PHASES)
def test_route_review_only_from_documented_states(status, phase):
    allowed = {("DRAFT", None), ("DRAFT", wf.PRE_RELEASE), ("DRAFT", wf.POST_RELEASE),
               ("IN_EXECUTION", wf.POST_RELEASE)}
    if (status, phase) in allowed:
        wf.route_review(status, phase)
    else:
        with pytest.raises(InvalidTransition):
            wf.route_review(status, phase)


@req("REQ-WF-001")
@req("REQ-WF-011")
@pytest.mark.parametrize("status", ALL)
def test_route_approval_only_from_reviewed_states(status):
    if status in ("REVIEWED", "PRE_REVIEWED", "POST_REVIEWED"):
        wf.route_approval(status)
    else:
        with pytest.raises(InvalidTransition):
            wf.route_approval(status)


@req("REQ-WF-007")
def test_reject_returns_to_reviewed_state():
    assert wf.reject_target("IN_APPROVAL") == "REVIEWED"
    assert wf.reject_target("IN_PRE_APPROVAL") == "PRE_REVIEWED"
    assert wf.reject_target("IN_POST_APPROVAL") == "POST_REVIEWED"


@req("REQ-WF-018")
@req("REQ-WF-022")
def test_withdraw_map():
    assert wf.WITHDRAW == {
        "IN_REVIEW": "DRAFT", "IN_APPROVAL": "REVIEWED", "IN_PRE_REVIEW": "DRAFT",
        "IN_PRE_APPROVAL": "PRE_REVIEWED", "IN_POST_REVIEW": "IN_EXECUTION",
        "IN_POST_APPROVAL": "POST_REVIEWED"}
    for status in ALL:
        if status not in wf.WITHDRAW:
            with pytest.raises(InvalidTransition):
                wf.withdraw_target(status)


def test_state_sets():
    assert wf.TERMINAL == {"CLOSED", "RETIRED"}
    assert wf.IN_WORKFLOW == set(wf.WITHDRAW)
    assert set(wf.WORKFLOW_TYPE) == wf.IN_WORKFLOW
    assert wf.task_type("PRE_APPROVAL") == "APPROVAL"
    assert wf.task_type("POST_REVIEW") == "REVIEW"
    assert wf.task_type("REVIEW") == "REVIEW"


@req("REQ-WF-011")
@pytest.mark.parametrize("status", ["CLOSED", "RETIRED"])
def test_no_transition_out_of_terminal_states(status):
    for phase in PHASES:
        with pytest.raises(InvalidTransition):
            wf.route_review(status, phase)
    with pytest.raises(InvalidTransition):
        wf.route_approval(status)
    with pytest.raises(InvalidTransition):
        wf.withdraw_target(status)
