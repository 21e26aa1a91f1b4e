"""`verify` checks every `PASSKEY_ENROLL` against the signed `PASSKEY_INVITE` it names
(issue 22, point 2): recorded before it, for the same user, unexpired when used, used once.
The enrollments below are written with the project key, as a server that honoured an
unsigned invite (d6fe49d) recorded them."""

from __future__ import annotations

import pytest

from qms import operations as ops
from qms.store import audit
from qms.store.project import Project

pytestmark = pytest.mark.req("REQ-PK-009")


def invite(p: Project, user: str = "qa", expires: str = "2999-01-01T00:00:00+00:00") -> str:
    with p.transaction() as tx:
        audit.append_project(tx, p, "PASSKEY_INVITE", "lead", invite=f"{len(user):016x}",
                             code_sha256="0" * 64, for_user=user, expires=expires)
    return f"{len(user):016x}"


def enroll(p: Project, user: str, invite_id: str, cred: str) -> None:
    with p.transaction() as tx:
        audit.append_project(tx, p, "PASSKEY_ENROLL", user, cred=cred, credential_id="x",
                             public_key="y", aaguid="z", rp_id="localhost", invite=invite_id,
                             invited_by="lead", origin="http://localhost:8000", sign_count=0)


def passkey_findings(p: Project) -> list[str]:
    return [f["message"] for f in ops.verify(p, "qa").findings if f["kind"] == "passkey"]


@pytest.mark.parametrize("case, message", [
    ("no invite", "names invite 0000000000000abc, which no PASSKEY_INVITE recorded"),
    ("another user", "used invite 0000000000000004, which was for lead"),
    ("expired", "after it expired (2000-01-01T00:00:00+00:00)"),
    ("twice", "a second time (first used at seq"),
])
def test_an_enrollment_without_its_invite_is_a_finding(project, case, message):
    p = Project.open(project)
    if case == "no invite":
        enroll(p, "qa", "0000000000000abc", "aaaaaaaaaaaaaaaa")
    elif case == "another user":
        enroll(p, "qa", invite(p, "lead"), "aaaaaaaaaaaaaaaa")
    elif case == "expired":
        enroll(p, "qa", invite(p, expires="2000-01-01T00:00:00+00:00"), "aaaaaaaaaaaaaaaa")
    else:
        used = invite(p)
        enroll(p, "qa", used, "aaaaaaaaaaaaaaaa")
        enroll(p, "qa", used, "bbbbbbbbbbbbbbbb")
    found = passkey_findings(p)
    assert len(found) == 1 and message in found[0], found
    assert found[0].startswith("PASSKEY_ENROLL of credential")


def test_an_enrollment_with_its_invite_is_clean(project):
    p = Project.open(project)
    enroll(p, "qa", invite(p), "aaaaaaaaaaaaaaaa")
    assert passkey_findings(p) == []
