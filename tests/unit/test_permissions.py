"""The permission matrix, exactly as documented (spec README section 4, weaknesses 7 and 8)."""

from __future__ import annotations

import pytest

from qms.domain import permissions as perm
from qms.errors import PermissionDenied

pytestmark = [pytest.mark.req("REQ-SEC-001"), pytest.mark.req("REQ-SEC-002")]

ADMIN, INIT, QUAL, REV = "administrator", "initiator", "quality", "reviewer"
AUTHORING = ["create", "checkout", "checkin", "route", "release", "revert", "close",
             "withdraw", "cancel", "interact", "qualify", "code_checkout", "code_push", "merge"]
QUERIES = ["read", "status", "history", "comments", "inbox", "workspace", "namespace_list",
           "config_get", "verify", "key_list", "export", "passkey_list", "system_list",
           "code_status", "code_remove"]
ADMIN_ONLY = ["fix", "unlock", "user_add", "user_group", "user_remove", "user_name",
              "user_list", "namespace_add", "token_issue", "token_list", "token_revoke",
              "config_set", "key_rotate", "key_import", "passkey_enroll", "passkey_revoke",
              "system_add", "code_install_hook"]

EXPECTED = {
    **{c: {ADMIN, INIT} for c in AUTHORING},
    "assign": {QUAL},
    "review": {ADMIN, INIT, QUAL, REV},
    "approve": {QUAL, REV},
    "reject": {QUAL, REV},
    **{c: {ADMIN, INIT, QUAL, REV} for c in QUERIES},
    **{c: {ADMIN} for c in ADMIN_ONLY},
}


def test_matrix_is_exactly_the_documented_one():
    assert {c: set(g) for c, g in perm.MATRIX.items()} == EXPECTED


@pytest.mark.parametrize("command", sorted(EXPECTED))
@pytest.mark.parametrize("group", perm.GROUPS)
def test_every_cell(command, group):
    if group in EXPECTED[command]:
        perm.check(command, "someone", group)
    else:
        with pytest.raises(PermissionDenied) as exc:
            perm.check(command, "someone", group)
        assert exc.value.code == "permission_denied"
        assert group in exc.value.message and command in exc.value.message


@pytest.mark.req("REQ-SEC-004")
@pytest.mark.req("REQ-SEC-005")
@pytest.mark.parametrize("command", ["assign", "approve", "reject"])
@pytest.mark.parametrize("group", [ADMIN, INIT])
def test_no_hierarchy_leak(command, group):
    """Administrators and initiators do not inherit assign/approve/reject (weakness 7)."""
    with pytest.raises(PermissionDenied):
        perm.check(command, "lead", group)


def test_quality_and_reviewer_may_not_author():
    for command in AUTHORING + ADMIN_ONLY:
        for group in (QUAL, REV):
            with pytest.raises(PermissionDenied):
                perm.check(command, "qa", group)


@pytest.mark.parametrize("command", ["migrate", "bogus", "", "CREATE", "user", "namespace",
                                     "verify-migration"])
def test_unknown_commands_are_denied(command):
    for group in perm.GROUPS:
        with pytest.raises(PermissionDenied, match="denied"):
            perm.check(command, "lead", group)


def test_unknown_group_is_denied_everywhere():
    for command in EXPECTED:
        with pytest.raises(PermissionDenied):
            perm.check(command, "x", "superuser")


@pytest.mark.req("REQ-SEC-003")
def test_owner_check():
    perm.check_owner("checkin", "claude", "claude", "CR-001")
    with pytest.raises(PermissionDenied, match="claude"):
        perm.check_owner("checkin", "lead", "claude", "CR-001")
    # a null owner is not a free pass (weakness 8)
    with pytest.raises(PermissionDenied, match="nobody"):
        perm.check_owner("close", "claude", None, "CR-001")


@pytest.mark.req("REQ-SEC-004")
def test_assignment_check():
    perm.check_assigned("review", "qa", ["qa", "tu"], "CR-001")
    with pytest.raises(PermissionDenied, match="not assigned"):
        perm.check_assigned("review", "tu", ["qa"], "CR-001")
    with pytest.raises(PermissionDenied):
        perm.check_assigned("approve", "qa", [], "CR-001")


@pytest.mark.req("REQ-SEC-007")
def test_assignable_groups():
    assert perm.ASSIGNABLE["REVIEW"] == {ADMIN, INIT, QUAL, REV}
    assert perm.ASSIGNABLE["APPROVAL"] == {QUAL, REV}


@pytest.mark.req("REQ-USER-001")
def test_builtin_admins():
    assert perm.BUILTIN_ADMINS == ("lead", "claude")


@pytest.mark.req("REQ-SOD-003")
def test_signed_authors_are_the_signers_of_the_text_and_of_the_current_cycle():
    from qms.domain.permissions import signed_authors

    def checkin(user, version, sha):
        return {"event": "CHECKIN", "user": user, "version": version, "ts": "t",
                "content_sha256": sha}

    trail = [checkin("a", "0.1", "A"), checkin("b", "0.1", "B"),
             {"event": "STATUS_CHANGE", "to_status": "PRE_APPROVED"},
             checkin("c", "1.1", "C"), {"event": "EFFECTIVE"}, checkin("d", "2.1", "D")]
    assert set(signed_authors(trail, "D")) == {"d"}        # earlier cycles are over
    assert set(signed_authors(trail, "A")) == {"a", "d"}   # ... unless it is a's very text
    assert set(signed_authors(trail[:2], "X")) == {"a", "b"}  # the current cycle
    assert set(signed_authors(trail[:3], None)) == set()
    assert signed_authors(trail[:1], "A")["a"] == "CHECKIN v0.1 at t"
