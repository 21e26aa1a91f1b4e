"""``qms_qualify`` on a real streamable-http server: the operation's arguments and result;
JUnit paths resolve inside the project only."""

from __future__ import annotations

import os

import anyio
import pytest

from _mcp_support import body, ok, refused
from qms import operations as ops
from qms.store.project import Project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.req("REQ-QUAL-008")]

JUNIT = ('<testsuite><testcase name="t1"><properties><property name="req" value="REQ-T-001"/>'
         '</properties></testcase><testcase name="t2[REQ-T-002]"><skipped/></testcase>'
         '</testsuite>')


def effective_rs(root) -> None:
    project = Project.open(root)
    ops.namespace_add(project, "lead", name="T")
    ops.create(project, "claude", doc_type="T-RS", title="Reqs")
    ops.checkin(project, "claude", doc_id="SDLC-T-RS", content=body("Reqs", "reqs") +
                "\n| REQ-T-001 | one |\n| REQ-T-002 | two |\n")
    ops.route(project, "claude", doc_id="SDLC-T-RS", route_type="review")
    ops.review(project, "qa", doc_id="SDLC-T-RS", outcome="recommend", comment="ok")
    ops.route(project, "claude", doc_id="SDLC-T-RS", route_type="approval")
    ops.approve(project, "qa", doc_id="SDLC-T-RS")


def test_qualify_tool(serve, project, tmp_path):
    effective_rs(project)
    (project / "junit.xml").write_text(JUNIT)
    (tmp_path / "outside.xml").write_text(JUNIT)
    os.symlink(tmp_path / "outside.xml", project / "link.xml")
    served = serve("streamable-http")

    async def scenario() -> None:
        async with served.client() as client:
            checked = await ok(client, "qms_qualify", user="qa", namespace="T",
                               junit=["junit.xml"], check=True)
            assert checked["passed"] is False and checked["check"] is True
            assert {r["id"]: r["verdict"] for r in checked["requirements"]} == {
                "REQ-T-001": "verified", "REQ-T-002": "untested"}
            assert checked["rtm"] is None
            assert not (project / "QMS" / ".evidence").exists()
            for path in (str(tmp_path / "outside.xml"), "../outside.xml", "link.xml"):
                text = await refused(client, "qms_qualify", user="claude", namespace="T",
                                     junit=[path])
                assert "outside the project" in text or "symbolic link" in text, text
            written = await ok(client, "qms_qualify", user="claude", namespace="T",
                               junit=["junit.xml"])
            assert written["rtm"]["doc_id"] == "SDLC-T-RTM"
            read = await ok(client, "qms_read", user="qa", doc_id="SDLC-T-RTM")
            assert "| REQ-T-002 | untested |" in read["content"]

    anyio.run(scenario)
