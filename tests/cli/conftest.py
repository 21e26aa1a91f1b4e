"""Helpers for the CLI integration tests: a project-bound runner plus lifecycle shortcuts.

``q`` runs ``qms`` in-process (the ``cli`` fixture from tests/conftest.py) inside a fresh
project. ``q.ok(user, ...)`` asserts success, ``q.fail(user, ..., code=1)`` asserts a clean
refusal (one ``Error:`` line on stderr, nothing on stdout). The lifecycle shortcuts drive a
document through the workflow with the default reviewer/approver ``qa``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest


def _load_root_conftest():
    """tests/conftest.py by path: ``import conftest`` may find another folder's conftest."""
    name = "_qms_tests_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


ROOT = _load_root_conftest()  # make_project, tree_digest, QMS_BIN
tree_digest = ROOT.tree_digest

# extra users most tests need besides lead/claude (administrators), qa (quality), tu (reviewer)
EXTRA_USERS = {"ini": "initiator", "ini2": "initiator", "rev": "reviewer", "qa2": "quality"}


class Q:
    def __init__(self, cli, root: Path) -> None:
        self.cli = cli
        self.root = root

    # -- running -----------------------------------------------------------------
    def __call__(self, user: str | None, *args: str):
        prefix = ("--user", user) if user else ()
        return self.cli(self.root, *prefix, *args)

    def ok(self, user: str | None, *args: str):
        run = self(user, *args)
        assert run.code == 0, f"qms {' '.join(args)} failed ({run.code}): {run.err}{run.out}"
        assert run.err == "" or "Warning" in run.err, run.err
        return run

    def fail(self, user: str | None, *args: str, code: int = 1, match: str | None = None,
             one_line: bool = True):
        run = self(user, *args)
        assert run.code == code, f"expected exit {code}, got {run.code}: {run.out}{run.err}"
        assert run.out == "", run.out
        assert run.err.startswith("Error: "), run.err
        if one_line:
            assert run.err.count("\n") == 1, f"error is not one line: {run.err!r}"
        if match:
            assert match.lower() in run.err.lower(), run.err
        return run

    def json(self, user: str, *args: str) -> dict:
        run = self(user, "--json", *args)
        return json.loads(run.out)

    # -- on-disk state -------------------------------------------------------------
    def meta(self, doc_id: str) -> dict:
        from qms.domain import doctypes

        path = self.root / "QMS" / ".meta" / doctypes.type_of(doc_id) / f"{doc_id}.json"
        return json.loads(path.read_text())

    def audit(self, doc_id: str) -> list[dict]:
        from qms.domain import doctypes

        path = self.root / "QMS" / ".audit" / doctypes.type_of(doc_id) / f"{doc_id}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def events(self, doc_id: str) -> list[str]:
        return [e["event"] for e in self.audit(doc_id)]

    def status(self, doc_id: str) -> str:
        return self.meta(doc_id)["status"]

    def version(self, doc_id: str) -> str:
        return self.meta(doc_id)["version"]

    def inbox(self, user: str) -> list[str]:
        folder = self.root / ".claude" / "users" / user / "inbox"
        return sorted(p.name for p in folder.glob("task-*.md")) if folder.is_dir() else []

    def workspace_file(self, user: str, doc_id: str) -> Path:
        return self.root / ".claude" / "users" / user / "workspace" / f"{doc_id}.md"

    def doc_dir(self, doc_id: str) -> Path:
        from qms.domain import doctypes

        return self.root / "QMS" / doctypes.folder_of(doc_id)

    def draft(self, doc_id: str) -> Path:
        return self.doc_dir(doc_id) / f"{doc_id}-draft.md"

    def effective(self, doc_id: str) -> Path:
        return self.doc_dir(doc_id) / f"{doc_id}.md"

    def archive(self, doc_id: str, version: str) -> Path:
        from qms.domain import doctypes

        return self.root / "QMS" / ".archive" / doctypes.folder_of(doc_id) / f"{doc_id}-v{version}.md"

    # -- set-up ---------------------------------------------------------------------
    def add_users(self, users: dict[str, str] | None = None) -> None:
        for name, group in (users or EXTRA_USERS).items():
            self.ok("lead", "user", "--add", name, "--group", group)

    def create(self, doc_type: str, title: str = "A title", user: str = "claude",
               *extra: str) -> str:
        run = self.ok(user, "--json", "create", doc_type, "--title", title, *extra)
        return json.loads(run.out)["result"]["doc_id"]

    def edit(self, doc_id: str, body: str, user: str = "claude", title: str = "A title") -> None:
        """Overwrite the workspace copy (the document must be checked out to ``user``)."""
        path = self.workspace_file(user, doc_id)
        assert path.exists(), f"{doc_id} is not in {user}'s workspace"
        path.write_text(f"---\ntitle: {title}\nrevision_summary: edited\n---\n\n{body}\n")

    # -- lifecycle shortcuts (owner claude, reviewer/approver qa unless given) ---------
    def review_round(self, doc_id: str, owner: str = "claude", reviewers=("qa",),
                     outcome: str = "--recommend") -> None:
        self.ok(owner, "route", doc_id, "--review", "--assign", *reviewers)
        for r in reviewers:
            self.ok(r, "review", doc_id, outcome, "--comment", f"{r} comment")

    def approval_round(self, doc_id: str, owner: str = "claude", approvers=("qa",),
                       *extra: str) -> None:
        self.ok(owner, "route", doc_id, "--approval", "--assign", *approvers, *extra)
        for a in approvers:
            self.ok(a, "approve", doc_id)

    def review_and_approve(self, doc_id: str, owner: str = "claude") -> None:
        self.review_round(doc_id, owner)
        self.approval_round(doc_id, owner)

    def effective_sop(self, title: str = "An SOP", owner: str = "claude") -> str:
        doc = self.create("SOP", title, owner)
        self.review_and_approve(doc, owner)
        assert self.status(doc) == "EFFECTIVE"
        return doc

    def in_execution(self, doc_type: str = "CR", owner: str = "claude", *extra: str) -> str:
        doc = self.create(doc_type, "Executable", owner, *extra)
        self.review_and_approve(doc, owner)
        assert self.status(doc) == "PRE_APPROVED"
        self.ok(owner, "release", doc)
        assert self.status(doc) == "IN_EXECUTION"
        return doc

    def post_approved(self, doc_id: str, owner: str = "claude") -> None:
        self.review_and_approve(doc_id, owner)
        assert self.status(doc_id) == "POST_APPROVED"


@pytest.fixture
def q(cli, project) -> Q:
    return Q(cli, project)


@pytest.fixture
def make_q(cli):
    """``make_q(root)``: a runner bound to another project (e.g. a module-scoped one)."""
    return lambda root: Q(cli, root)


def assert_audit_consistent(q: Q, doc_id: str, initial: str = "DRAFT") -> None:
    """Every event has ts/event/user/version; STATUS_CHANGEs chain and end at meta status."""
    events = q.audit(doc_id)
    assert events, f"{doc_id} has no audit trail"
    current = initial
    for e in events:
        for key in ("ts", "event", "user", "version"):
            assert e.get(key), f"{doc_id}: event {e} lacks {key}"
        if e["event"] == "STATUS_CHANGE":
            assert e["from_status"] == current, f"{doc_id}: gap before {e}"
            current = e["to_status"]
    meta = q.meta(doc_id)
    assert meta["status"] == current, f"{doc_id}: meta {meta['status']} vs audit {current}"


@pytest.fixture
def consistent():
    return assert_audit_consistent


@pytest.fixture
def digest():
    """``digest(root)``: path -> sha256 of every file (tests/conftest.py ``tree_digest``)."""
    return tree_digest


@pytest.fixture(scope="session")
def helpers():
    """tests/conftest.py as a module (``make_project``, ``tree_digest``, ``QMS_BIN``)."""
    return ROOT
