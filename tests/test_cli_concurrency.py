"""Real ``qms`` processes racing one another on one project (the cross-process project lock).

To make the race tight, the test itself holds the project lock while it starts the
processes, so they all queue on the lock and are released at the same moment.

(This file is not called ``test_concurrency.py`` because ``tests/mcp/test_concurrency.py``
exists and the test folders are not packages: pytest would refuse two modules of one name.)
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from qms.store.transaction import pending

from conftest import QMS_BIN, fill

N = 8
TIMEOUT_S = 60
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}


@contextmanager
def held_lock(root: Path):
    """Hold the project lock (as another qms process would) while the racers start."""
    from qms.store.transaction import project_lock

    with project_lock(root / ".qms" / "lock", timeout=10):
        yield


def race(root: Path, commands: list[list[str]], settle_s: float = 1.5) -> list[tuple[int, str, str]]:
    """Start every command while holding the lock, release it, collect (code, out, err)."""
    procs = []
    with held_lock(root):
        for args in commands:
            procs.append(subprocess.Popen([str(QMS_BIN), *args], cwd=root, env=_env(),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        # give every process time to start and queue on the lock (bounded)
        time.sleep(settle_s)
    results = []
    deadline = time.monotonic() + TIMEOUT_S
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("a qms process did not finish in time")
        results.append((p.returncode, out, err))
    return results


def audit(root: Path, kind: str, doc_id: str) -> list[dict]:
    path = root / "QMS" / ".audit" / kind / f"{doc_id}.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def add_initiators(root: Path, n: int) -> list[str]:
    from qms import operations as ops
    from qms.store.project import Project

    project = Project.open(root)
    names = [f"init{i}" for i in range(1, n + 1)]
    for name in names:
        ops.user_add(project, "lead", name=name, group="initiator")
    return names


@pytest.mark.req("REQ-DOC-007")
def test_racing_checkouts_exactly_one_wins(project):
    from qms import operations as ops
    from qms.store.project import Project

    users = add_initiators(project, N)
    p = Project.open(project)
    doc_id = ops.create(p, "claude", doc_type="SOP", title="Contended").doc_id
    ops.checkin(p, "claude", doc_id=doc_id)
    baseline = audit(project, "SOP", doc_id)

    t0 = time.monotonic()
    results = race(project, [["--user", u, "checkout", doc_id] for u in users])
    elapsed = time.monotonic() - t0
    assert elapsed < TIMEOUT_S

    winners = [u for u, (code, _, _) in zip(users, results) if code == 0]
    assert len(winners) == 1, results
    winner = winners[0]
    for user, (code, out, err) in zip(users, results):
        if user == winner:
            assert f"Checked out {doc_id}" in out
            continue
        assert code == 1, (user, code, out, err)
        assert err.startswith("Error: ") and "checked out by" in err and winner in err, err
        assert err.count("\n") == 1  # one clear line, no traceback
        assert out == ""

    events = audit(project, "SOP", doc_id)
    assert events[:len(baseline)] == baseline
    new = events[len(baseline):]
    assert [e["event"] for e in new] == ["CHECKOUT"] and new[0]["user"] == winner

    meta = json.loads((project / f"QMS/.meta/SOP/{doc_id}.json").read_text())
    assert meta["responsible_user"] == winner and meta["checked_out"] is True
    holders = [u for u in users
               if (project / f".claude/users/{u}/workspace/{doc_id}.md").exists()]
    assert holders == [winner]
    assert not pending(project / ".qms" / "journal")


@pytest.mark.req("REQ-DOC-004")
def test_racing_creates_get_unique_ids_and_complete_audit(project):
    results = race(project, [["--json", "--user", "claude", "create", "CR", "--title",
                              f"Racer {i}"] for i in range(N)])
    assert all(code == 0 for code, _, _ in results), results
    ids = [json.loads(out)["result"]["doc_id"] for _, out, _ in results]
    assert len(set(ids)) == N
    assert sorted(ids) == [f"CR-{i:03d}" for i in range(1, N + 1)]

    metas = sorted((project / "QMS/.meta/CR").glob("*.json"))
    assert [m.stem for m in metas] == sorted(ids)
    titles = set()
    for doc_id in ids:
        meta = json.loads((project / f"QMS/.meta/CR/{doc_id}.json").read_text())
        assert meta["doc_id"] == doc_id and meta["status"] == "DRAFT"
        events = audit(project, "CR", doc_id)
        creates = [e for e in events if e["event"] == "CREATE"]
        assert len(creates) == 1, (doc_id, events)
        titles.add(creates[0]["title"])
        assert (project / f"QMS/CR/{doc_id}/{doc_id}-draft.md").is_file()
        assert (project / f".claude/users/claude/workspace/{doc_id}.md").is_file()
    assert titles == {f"Racer {i}" for i in range(N)}
    # the counter agrees with what was handed out; the next create continues after it
    assert (project / "QMS/.meta/.seq/CR").read_text().strip() == str(N)
    code, out, _ = race(project, [["--json", "--user", "claude", "create", "CR",
                                   "--title", "after"]], settle_s=0)[0]
    assert code == 0 and json.loads(out)["result"]["doc_id"] == f"CR-{N + 1:03d}"


def test_mixed_writers_and_readers_stay_consistent(project):
    """Writers on different documents and readers at once: every command succeeds, readers
    never see a half-written file, and each document's trail is complete."""
    from qms import operations as ops
    from qms.store.project import Project

    p = Project.open(project)
    docs = [ops.create(p, "claude", doc_type="SOP", title=f"Doc {i}").doc_id for i in range(4)]
    for doc_id in docs:
        fill(project, doc_id)
    commands = []
    for doc_id in docs:
        commands.append(["--user", "claude", "route", doc_id, "--review"])
        commands.append(["--json", "--user", "qa", "status", doc_id])
    results = race(project, commands)
    assert all(code == 0 for code, _, _ in results), results
    for (code, out, _), args in zip(results, commands):
        if "status" in args:
            assert json.loads(out)["result"]["status"] in ("DRAFT", "IN_REVIEW")
    for doc_id in docs:
        meta = json.loads((project / f"QMS/.meta/SOP/{doc_id}.json").read_text())
        assert meta["status"] == "IN_REVIEW" and meta["pending_assignees"] == ["qa"]
        kinds = [e["event"] for e in audit(project, "SOP", doc_id)]
        assert kinds == ["CREATE", "CHECKOUT", "CHECKIN", "STATUS_CHANGE", "ROUTE_REVIEW"]
        assert (project / f".claude/users/qa/inbox/task-{doc_id}-review-v0-1.md").is_file()
    # racing writers still form one unbroken, signed chain (REQ-INTEG-001)
    verified = ops.verify(p, "qa", all_signatures=True)
    assert verified.clean, verified.findings
