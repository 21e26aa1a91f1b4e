"""The document state machine (pure): statuses and every transition the tool allows."""

from __future__ import annotations

from qms.errors import InvalidTransition

DRAFT = "DRAFT"
IN_REVIEW, REVIEWED = "IN_REVIEW", "REVIEWED"
IN_APPROVAL, APPROVED, EFFECTIVE = "IN_APPROVAL", "APPROVED", "EFFECTIVE"
IN_PRE_REVIEW, PRE_REVIEWED = "IN_PRE_REVIEW", "PRE_REVIEWED"
IN_PRE_APPROVAL, PRE_APPROVED = "IN_PRE_APPROVAL", "PRE_APPROVED"
IN_EXECUTION = "IN_EXECUTION"
IN_POST_REVIEW, POST_REVIEWED = "IN_POST_REVIEW", "POST_REVIEWED"
IN_POST_APPROVAL, POST_APPROVED = "IN_POST_APPROVAL", "POST_APPROVED"
CLOSED, RETIRED = "CLOSED", "RETIRED"

TERMINAL = frozenset({CLOSED, RETIRED})
REVIEW_STATES = frozenset({IN_REVIEW, IN_PRE_REVIEW, IN_POST_REVIEW})
APPROVAL_STATES = frozenset({IN_APPROVAL, IN_PRE_APPROVAL, IN_POST_APPROVAL})
IN_WORKFLOW = REVIEW_STATES | APPROVAL_STATES
REVIEWED_STATES = frozenset({REVIEWED, PRE_REVIEWED, POST_REVIEWED})

PRE_RELEASE, POST_RELEASE = "pre_release", "post_release"

# route --review: (status, phase) -> (target, review_type); phase None = non-executable
_ROUTE_REVIEW = {
    (DRAFT, None): (IN_REVIEW, "REVIEW"),
    (DRAFT, PRE_RELEASE): (IN_PRE_REVIEW, "PRE_REVIEW"),
    (DRAFT, POST_RELEASE): (IN_POST_REVIEW, "POST_REVIEW"),
    (IN_EXECUTION, POST_RELEASE): (IN_POST_REVIEW, "POST_REVIEW"),
}
_ROUTE_APPROVAL = {
    REVIEWED: (IN_APPROVAL, "APPROVAL"),
    PRE_REVIEWED: (IN_PRE_APPROVAL, "PRE_APPROVAL"),
    POST_REVIEWED: (IN_POST_APPROVAL, "POST_APPROVAL"),
}
_REVIEW_DONE = {IN_REVIEW: REVIEWED, IN_PRE_REVIEW: PRE_REVIEWED, IN_POST_REVIEW: POST_REVIEWED}
_APPROVAL_DONE = {IN_APPROVAL: APPROVED, IN_PRE_APPROVAL: PRE_APPROVED,
                  IN_POST_APPROVAL: POST_APPROVED}
_REJECT = {IN_APPROVAL: REVIEWED, IN_PRE_APPROVAL: PRE_REVIEWED, IN_POST_APPROVAL: POST_REVIEWED}
WITHDRAW = {
    IN_REVIEW: DRAFT, IN_APPROVAL: REVIEWED,
    IN_PRE_REVIEW: DRAFT, IN_PRE_APPROVAL: PRE_REVIEWED,
    IN_POST_REVIEW: IN_EXECUTION, IN_POST_APPROVAL: POST_REVIEWED,
}
WORKFLOW_TYPE = {  # in-workflow status -> workflow type named in audit events and tasks
    IN_REVIEW: "REVIEW", IN_PRE_REVIEW: "PRE_REVIEW", IN_POST_REVIEW: "POST_REVIEW",
    IN_APPROVAL: "APPROVAL", IN_PRE_APPROVAL: "PRE_APPROVAL", IN_POST_APPROVAL: "POST_APPROVAL",
}


def route_review(status: str, phase: str | None) -> tuple[str, str]:
    try:
        return _ROUTE_REVIEW[(status, phase)]
    except KeyError:
        raise InvalidTransition(
            f"Cannot route for review from {status}: only DRAFT documents (or executed "
            "documents IN_EXECUTION) can be routed for review.") from None


def route_approval(status: str) -> tuple[str, str]:
    try:
        return _ROUTE_APPROVAL[status]
    except KeyError:
        raise InvalidTransition(
            f"Cannot route for approval from {status}: the document must be REVIEWED, "
            "PRE_REVIEWED or POST_REVIEWED.") from None


def review_done(status: str) -> str:
    return _REVIEW_DONE[status]


def approval_done(status: str) -> str:
    return _APPROVAL_DONE[status]


def reject_target(status: str) -> str:
    return _REJECT[status]


def withdraw_target(status: str) -> str:
    try:
        return WITHDRAW[status]
    except KeyError:
        raise InvalidTransition(
            f"Cannot withdraw from {status}: only documents in review or approval can be "
            "withdrawn.") from None


def task_type(workflow_type: str) -> str:
    return "APPROVAL" if "APPROVAL" in workflow_type else "REVIEW"
