"""A project with documents in interesting states for the web-page tests, and Chromium."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from qms import operations as ops
from qms.operations.init import init
from qms.store.project import Project

TESTS = Path(__file__).parents[1]


def _load(name: str, path: Path):
    """A test helper module by path (``import conftest`` may find another folder's)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_root = _load("_qms_tests_root_conftest", TESTS / "conftest.py")
_mcp = _load("_qms_tests_mcp_conftest", TESTS / "mcp" / "conftest.py")
make_project, tree_digest = _root.make_project, _root.tree_digest
start_server, stop_server = _mcp.start_server, _mcp.stop_server  # real `qms-mcp` processes

SECRET = "An early reviewer's remark"  # hidden while the round is open
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)> "quoted"'
SIGNATURE = {"ts": "2026-02-03T10:11:12+00:00", "event": "APPROVE", "user": "qa",
             "version": "1.0", "meaning": "Approved: content is correct",
             "signer_name": "Quinn <b>QA</b>", "content_sha256": "ab" * 32}
RS = """---
title: QMS requirements
revision_summary: Initial draft
---

# SDLC-QMS-RS

| REQ ID | Requirement |
|---|---|
| REQ-WEB-001 | **Dashboard**: every document at a glance |
| REQ-WEB-002 | **Diff**: what changed between versions |
"""
RTM = """---
title: QMS traceability
revision_summary: Initial draft
---

| REQ ID | Test | Status |
|---|---|---|
| REQ-WEB-001 | tests/web/test_pages.py::test_dashboard | PASS |
| REQ-OTHER-009 | tests/x.py::test_y | PASS |
"""


def chromium() -> str | None:
    """Debian's chromium (or $QMS_CHROMIUM); None when there is none."""
    for candidate in (os.environ.get("QMS_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def doc_text(title: str, body: str) -> str:
    head = f"---\ntitle: {json.dumps(title)}\nrevision_summary: Update\n---\n\n"
    return f"{head}# {title}\n\n{body}\n"


def build_project(root: Path) -> Path:
    """SOP-008 EFFECTIVE v1.0 with a v1.1 draft (two readable versions, a diff, a signature
    record); CR-001 with a hostile title in pre-review, reviewed by qa (comment hidden),
    waiting on tu; CR-002 released; CR-003 cancelled;
    namespace QMS with an RS and an RTM."""
    root.mkdir(parents=True, exist_ok=True)
    init(root, yes=True)
    p = Project.open(root)
    sop = ops.create(p, "claude", doc_type="SOP", title="Document control").doc_id
    ops.checkin(p, "claude", doc_id=sop, content=doc_text(
        "Document control", "## 1 Purpose\n\nKeep records.\n\n| Step | Who |\n|---|---|\n"
        "| Draft | author |\n| Approve | QA |\n\nUnchanged line."))
    ops.route(p, "claude", doc_id=sop, route_type="review")
    ops.review(p, "qa", doc_id=sop, outcome="recommend", comment="Looks <b>good</b>.")
    ops.route(p, "claude", doc_id=sop, route_type="approval")
    ops.approve(p, "qa", doc_id=sop)
    ops.checkout(p, "claude", doc_id=sop)
    ops.checkin(p, "claude", doc_id=sop, content=doc_text(
        "Document control", "## 1 Purpose\n\nKeep every record.\n\n| Step | Who |\n|---|---|\n"
        "| Draft | author |\n| Approve | QA |\n\nUnchanged line.\n\n## 2 Scope\n\nAll SOPs."))
    with open(p.audit_path(sop), "a", encoding="utf-8") as fh:  # a record from issue 10
        fh.write(json.dumps(SIGNATURE) + "\n")
    cr = ops.create(p, "claude", doc_type="CR", title=HOSTILE).doc_id
    _root.fill(root, cr)
    ops.route(p, "claude", doc_id=cr, route_type="review")
    ops.assign(p, "qa", doc_id=cr, assignees=["tu"])
    ops.review(p, "qa", doc_id=cr, outcome="recommend", comment=SECRET)  # tu still pending
    cr2 = ops.create(p, "claude", doc_type="CR", title="Released change").doc_id
    _root.fill(root, cr2)
    for user, fn, kw in (("claude", ops.route, {"route_type": "review"}),
                         ("qa", ops.review, {"outcome": "recommend", "comment": "ok"}),
                         ("claude", ops.route, {"route_type": "approval"}),
                         ("qa", ops.approve, {}), ("claude", ops.release, {})):
        fn(p, user, doc_id=cr2, **kw)
    gone = ops.create(p, "claude", doc_type="CR", title="Abandoned idea").doc_id  # CR-003
    ops.checkin(p, "claude", doc_id=gone)  # cancel needs a checked-in document
    ops.cancel(p, "claude", doc_id=gone, confirm=True)
    ops.namespace_add(p, "lead", name="QMS")
    for kind, text in (("RS", RS), ("RTM", RTM)):
        doc = ops.create(p, "claude", doc_type=f"QMS-{kind}", title=f"QMS {kind}").doc_id
        ops.checkin(p, "claude", doc_id=doc, content=text)
    return root
