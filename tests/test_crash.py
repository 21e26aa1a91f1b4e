"""kill -9 in the middle of mutating operations: the project always recovers consistent.

Two kinds of crash:

* random: a child process drives documents through their lifecycles with the operations API
  in an endless loop and is SIGKILLed at a random moment, ~40 times;
* deterministic: a child process is SIGKILLed at every step of one commit (before the
  journal is written, and after 0..n of the journal's file operations were applied).

After each crash, the test first checks the raw state (the journal exists only when a commit
was interrupted, and then it is complete), then opens the project with ``Project.open``
(which rolls an interrupted commit forward) and checks every invariant the tool promises:
every JSON/JSONL file parses, every meta's status and version agree with its audit trail,
checkouts agree with workspaces, pending assignees agree with inbox tasks, document files
exist where the status says, and left-over temporary files are never taken for documents.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qms.store.transaction import pending as journal_pending

from conftest import fill, make_project, tree_digest

pytestmark = pytest.mark.slow

KILLS = 40
BUDGET_S = 45.0       # the random-kill loop stops early rather than exceed this
CHILD_READY_S = 20.0  # bound on a child's start-up

# -- the child: an endless, state-driven lifecycle driver ------------------------------------
DRIVER = textwrap.dedent(r'''
    import os, random, sys
    from qms import operations as ops
    from qms.errors import QMSError
    from qms.store import meta as meta_store
    from qms.store.project import Project

    root, seed, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    project = Project.open(root)
    rng = random.Random(seed)
    log = open(log_path, "a", buffering=1)

    def docs():
        found = []
        for kind in ("SOP", "CR"):
            folder = project.qms / ".meta" / kind
            if folder.is_dir():
                found += [p.stem for p in folder.glob("*.json") if not p.name.startswith(".")]
        return sorted(found)

    def step():
        ids = docs()
        if not ids or rng.random() < 0.15:
            kind = rng.choice(["SOP", "CR"])
            return "create", lambda: ops.create(project, "claude", doc_type=kind,
                                                title=f"Crash {kind} {rng.randrange(10**6)}")
        doc_id = rng.choice(ids)
        meta = meta_store.load(project, doc_id)
        status, out = meta["status"], meta.get("checked_out")
        r = rng.random()
        if status == "DRAFT":
            if out:
                return "checkin", lambda: ops.checkin(
                    project, "claude", doc_id=doc_id,
                    content=f"---\ntitle: {doc_id}\n---\n\n# {doc_id}\n\nrev {rng.random()}\n")
            if meta["version"].startswith("0.") and r < 0.1:  # cancel needs it checked in
                return "cancel", lambda: ops.cancel(project, "claude", doc_id=doc_id,
                                                    confirm=True)
            return "route", lambda: ops.route(project, "claude", doc_id=doc_id,
                                              route_type="review")
        if status.startswith("IN_") and status.endswith("REVIEW"):
            if r < 0.1:
                return "withdraw", lambda: ops.withdraw(project, "claude", doc_id=doc_id)
            outcome = "request-updates" if r < 0.2 else "recommend"
            return "review", lambda: ops.review(project, "qa", doc_id=doc_id,
                                                outcome=outcome, comment="looked at it")
        if status.endswith("REVIEWED"):
            if any(v == "UPDATES_REQUIRED" for v in (meta.get("review_outcomes") or {}).values()):
                return "checkout", lambda: ops.checkout(project, "claude", doc_id=doc_id)
            return "route", lambda: ops.route(project, "claude", doc_id=doc_id,
                                              route_type="approval")
        if status.startswith("IN_") and status.endswith("APPROVAL"):
            if r < 0.1:
                return "reject", lambda: ops.reject(project, "qa", doc_id=doc_id,
                                                    comment="not yet")
            return "approve", lambda: ops.approve(project, "qa", doc_id=doc_id)
        if status == "EFFECTIVE":
            return "checkout", lambda: ops.checkout(project, "claude", doc_id=doc_id)
        if status == "PRE_APPROVED":
            return "release", lambda: ops.release(project, "claude", doc_id=doc_id)
        if status == "IN_EXECUTION":
            if out:
                return "checkin", lambda: ops.checkin(project, "claude", doc_id=doc_id)
            if r < 0.5:
                return "checkout", lambda: ops.checkout(project, "claude", doc_id=doc_id)
            return "route", lambda: ops.route(project, "claude", doc_id=doc_id,
                                              route_type="review")
        if status == "POST_APPROVED":
            return "close", lambda: ops.close(project, "claude", doc_id=doc_id)
        return "status", lambda: ops.status(project, "qa", doc_id=doc_id)

    print("ready", flush=True)
    n = 0
    while True:
        name, call = step()
        n += 1
        log.write(f"BEGIN {n} {name}\n")
        try:
            call()
        except QMSError:
            pass
        log.write(f"END {n}\n")
''')

# kill at one precise point of one commit: ``K`` journal ops applied (or -1: before the
# journal frame is written; -2: half-way through writing it, before its fsync; -3: half-way
# through applying, a file's temporary copy written but not renamed; -4: every op applied,
# the frame not yet marked applied), then SIGKILL
INJECT = textwrap.dedent(r'''
    import json, os, signal, sys
    from qms import operations as ops
    from qms.store import atomic, transaction
    from qms.store.project import Project

    root, k, op, user, kwargs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], \
        json.loads(sys.argv[5])
    project = Project.open(root)
    real_apply, real_write, real_journal = transaction.apply_ops, atomic.write_bytes, \
        transaction.write_journal

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def apply_some(root_, journal_ops):
        print(len(journal_ops), flush=True)
        real_apply(root_, journal_ops[:k])
        die()

    def no_journal(journal, journal_ops):
        die()

    def torn_journal(journal, journal_ops):
        real_pwrite = os.pwrite
        os.fsync = lambda fd: die()  # the commit point is never reached
        os.pwrite = lambda fd, data, offset: (real_pwrite(fd, data[: len(data) // 2], offset),
                                              die())
        real_journal(journal, journal_ops)

    def torn_file(path, data, root=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(atomic.tmp_path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data[: len(data) // 2])
        die()

    def unmarked(*args):
        die()

    if k == -1:
        transaction.write_journal = no_journal
    elif k == -2:
        transaction.write_journal = torn_journal
    elif k == -3:
        atomic.write_bytes = torn_file
    elif k == -4:
        transaction._mark_applied = unmarked
    else:
        transaction.apply_ops = apply_some
    getattr(ops, op)(project, user, **kwargs)
    print("finished without a crash", flush=True)
''')


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}


# -- invariants ------------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path}: partial last line"
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def status_from_audit(events: list[dict], doc_type: str) -> tuple[str | None, str]:
    """(status per the last STATUS_CHANGE, or the creation status), version of last event."""
    status = None
    for e in events:
        if e.get("event") == "STATUS_CHANGE":
            status = e["to_status"]
        elif e.get("event") == "CREATE" and status is None:
            status = "IN_EXECUTION" if doc_type == "VR" else "DRAFT"
    return status, events[-1]["version"]


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith((".tmp", ".qms-tmp"))


def check_raw_journal(root: Path, interrupted: bool | None) -> list[dict] | None:
    """Before recovery: a journal is complete JSON naming paths inside the project, and it
    exists only when a commit was interrupted. Returns its operations (None: no journal)."""
    from qms.store.transaction import read_journal

    ops = read_journal(root / ".qms" / "journal")
    if ops is None:
        return None
    assert interrupted is not False, "journal left behind by a completed operation"
    assert ops, "empty journal"
    for op in ops:
        assert op["op"] in ("write", "delete", "append")
        assert not Path(op["path"]).is_absolute() and ".." not in Path(op["path"]).parts
    return ops


def check_rolled_forward(root: Path, ops: list[dict]) -> None:
    """After recovery, every journal operation took effect exactly once (appends are not
    doubled, even when the crash came after some or all of them were already applied)."""
    final: dict[str, object] = {}
    for op in ops:  # the last operation on a path decides its content
        final[op["path"]] = op
    for rel, op in final.items():
        path = root / rel
        if op["op"] == "delete":
            assert not path.exists(), rel
        elif op["op"] == "write":
            assert path.read_text(encoding="utf-8") == op["text"], rel
        else:
            data = path.read_bytes()
            text = op["text"].encode("utf-8")
            assert len(data) == op["offset"] + len(text) and data.endswith(text), rel


def check_consistent(root: Path) -> dict[str, dict]:
    """Every invariant after recovery; returns doc_id -> meta."""
    from qms import operations as ops
    from qms.store.project import Project

    project = Project.open(root)  # rolls forward an interrupted commit
    assert not journal_pending(project.journal)

    # every JSON / JSONL file parses (temporary files are not data)
    for path in root.rglob("*.json"):
        if not is_temp(path):
            json.loads(path.read_text(encoding="utf-8"))
    audits = {p.stem: p for p in (root / "QMS" / ".audit").glob("*/*.jsonl") if not is_temp(p)}
    trails = {doc_id: read_jsonl(p) for doc_id, p in audits.items()}

    metas: dict[str, dict] = {}
    for path in (root / "QMS" / ".meta").rglob("*.json"):
        if is_temp(path) or path.name.endswith(".source.json") or \
                path.name == "sdlc_namespaces.json" or ".seq" in path.parts:
            continue
        metas[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    users_dir = root / ".claude" / "users"
    users = sorted(p.name for p in users_dir.iterdir() if p.is_dir())

    for doc_id, meta in metas.items():
        where = f"{doc_id} {meta['status']} v{meta['version']}"
        assert meta["doc_id"] == doc_id
        events = trails.get(doc_id)
        assert events, f"{where}: meta without audit trail"
        assert sum(e["event"] == "CREATE" for e in events) == 1, where
        status, version = status_from_audit(events, meta["doc_type"])
        assert meta["status"] == status, f"{where}: audit says {status}"
        assert meta["version"] == version, f"{where}: last audit event is v{version}"

        # checkout <-> workspace
        holders = [u for u in users if (users_dir / u / "workspace" / f"{doc_id}.md").exists()]
        if meta["checked_out"]:
            assert holders == [meta["responsible_user"]], f"{where}: workspace {holders}"
        else:
            assert holders == [], f"{where}: stray workspace copies {holders}"
        # pending assignees <-> inbox tasks
        tasked = sorted(u for u in users
                        if list((users_dir / u / "inbox").glob(f"task-{doc_id}-*.md")))
        assert tasked == sorted(meta["pending_assignees"]), f"{where}: tasks of {tasked}"
        if meta["status"].startswith("IN_") and meta["status"] != "IN_EXECUTION":
            assert meta["pending_assignees"], where
        # document files
        project_draft = project.draft_path(doc_id)
        project_eff = project.effective_path(doc_id)
        if meta["status"] in ("EFFECTIVE", "CLOSED"):
            assert project_eff.is_file(), where
        if meta["status"] in ("CLOSED", "RETIRED") or \
                (meta["status"] == "EFFECTIVE" and not meta["checked_out"]):
            assert not project_draft.exists(), where
        elif meta["status"] != "EFFECTIVE":
            assert project_draft.is_file(), f"{where}: no draft"
        if meta.get("effective_version") and meta["status"] not in ("RETIRED",):
            assert project_eff.is_file(), where

    # audit trails without meta belong to cancelled documents only
    for doc_id, events in trails.items():
        if doc_id not in metas:
            assert events[-1]["event"] == "CANCEL", f"{doc_id}: orphan audit trail"

    # ID counters never fall behind the documents
    seq = root / "QMS" / ".meta" / ".seq"
    for kind in ("SOP", "CR"):
        numbers = [int(d.split("-")[1]) for d in trails if re.fullmatch(rf"{kind}-\d+", d)]
        counter = seq / kind
        if counter.exists() and numbers:
            assert int(counter.read_text().strip()) >= max(numbers), kind

    # left-over temporary files are never taken for documents
    listed = ops.inbox(project, "qa").tasks
    assert all(t["doc_id"] in metas for t in listed)
    assert all(not Path(t["file"]).name.startswith(".") for t in listed)
    ws = ops.workspace(project, "claude").documents
    assert all(d["doc_id"] in metas for d in ws)
    for doc_id in metas:
        assert ops.status(project, "qa", doc_id=doc_id).status == metas[doc_id]["status"]
    # the signed audit chain agrees with every trail, text and meta (REQ-INTEG-008)
    verified = ops.verify(project, "qa", all_signatures=True)
    assert verified.clean, verified.findings
    return metas


def last_logged(log: Path) -> str | None:
    if not log.exists():
        return None
    lines = log.read_text().splitlines()
    return lines[-1] if lines else None


# -- tests -----------------------------------------------------------------------------------
@pytest.mark.req("REQ-INTEG-008")
def test_random_kills_always_recover_consistent(tmp_path):
    root = make_project(tmp_path / "proj")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    log = tmp_path / "ops.log"
    seed = int(os.environ.get("QMS_CRASH_SEED", "1234"))  # vary it to stress locally
    rng = random.Random(seed)
    start = time.monotonic()
    kills = journals = 0
    while kills < KILLS and time.monotonic() - start < BUDGET_S:
        child = subprocess.Popen([sys.executable, str(script), str(root), str(seed + kills),
                                  str(log)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=_env())
        try:
            ready = child.stdout.readline()
            assert ready.strip() == "ready", child.stderr.read() if child.poll() else ready
            time.sleep(rng.uniform(0.0, 0.35))
            assert child.poll() is None, f"driver died on its own: {child.stderr.read()}"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=CHILD_READY_S)
        kills += 1
        last = last_logged(log) or ""
        in_flight = last.startswith("BEGIN")
        pending = check_raw_journal(root, interrupted=in_flight)
        check_consistent(root)
        if pending is not None:
            journals += 1
            check_rolled_forward(root, pending)
    assert kills >= 20, f"only {kills} kills in the time budget"
    metas = check_consistent(root)
    # the driver did real work: documents in many states
    assert len(metas) > 16
    assert len({m["status"] for m in metas.values()}) >= 3
    from collections import Counter

    print(f"{kills} kills, {journals} interrupted commits rolled forward, {len(metas)} "
          f"documents: {dict(Counter(m['status'] for m in metas.values()))}")


def _outside_state(digest: dict[str, str]) -> dict[str, str]:
    """A tree digest without the tool's private state folder .qms/ (lock, journal)."""
    return {k: v for k, v in digest.items() if not k.startswith(".qms/")}


def _prepare(tmp_path: Path, name: str):
    """A project with one SOP in IN_APPROVAL and one CR in IN_PRE_REVIEW (2 reviewers)."""
    from qms import operations as ops
    from qms.store.project import Project

    root = make_project(tmp_path / name)
    p = Project.open(root)
    ops.user_add(p, "lead", name="rev", group="reviewer")
    sop = ops.create(p, "claude", doc_type="SOP", title="Crash SOP").doc_id
    fill(root, sop)
    ops.route(p, "claude", doc_id=sop, route_type="review")
    ops.review(p, "qa", doc_id=sop, outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id=sop, route_type="approval")
    cr = ops.create(p, "claude", doc_type="CR", title="Crash CR").doc_id
    fill(root, cr)
    ops.route(p, "claude", doc_id=cr, route_type="review", assignees=["qa", "rev"])
    return root, sop, cr


# (operation, user, target, extra kwargs, expected status after a completed operation)
SCENARIOS = [
    ("approve", "qa", "sop", {}, "EFFECTIVE"),        # archive + effective + delete draft ...
    ("checkout", "claude", "sop", {}, "REVIEWED"),     # auto-withdraw: tasks deleted
    ("review", "rev", "cr", {"outcome": "recommend", "comment": "fine"}, "IN_PRE_REVIEW"),
    ("create", "claude", None, {"doc_type": "CR", "title": "New"}, "DRAFT"),
]


@pytest.mark.req("REQ-HARD-020")
@pytest.mark.req("REQ-INTEG-008")
@pytest.mark.parametrize("op,user,target,extra,expected", SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_kill_at_every_step_of_a_commit(tmp_path, op, user, target, extra, expected):
    base, sop, cr = _prepare(tmp_path, "base")
    script = tmp_path / "inject.py"
    script.write_text(INJECT)
    doc_id = {"sop": sop, "cr": cr, None: None}[target]
    base_digest = tree_digest(base)

    def run(k: int) -> tuple[Path, subprocess.CompletedProcess]:
        root = tmp_path / f"k{k + 1}"
        shutil.copytree(base, root)
        kwargs = dict(extra, **({"doc_id": doc_id} if doc_id else {}))
        proc = subprocess.run([sys.executable, str(script), str(root), str(k), op, user,
                               json.dumps(kwargs)],
                              capture_output=True, text=True, timeout=60, env=_env())
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
        return root, proc

    # crash before the journal exists, or while it is written: nothing changed, no journal
    for mode in (-1, -2):
        root, _ = run(mode)
        assert check_raw_journal(root, interrupted=True) is None
        assert _outside_state(tree_digest(root)) == _outside_state(base_digest)
        check_consistent(root)
        assert _outside_state(tree_digest(root)) == _outside_state(base_digest)

    # crash half-way through writing a file, and after every file was written but before the
    # frame is marked applied: rolled forward; the temporary file is gone and was never read
    for mode in (-3, -4):
        root, _ = run(mode)
        pending = check_raw_journal(root, interrupted=True)
        assert pending is not None
        if mode == -3:
            assert [p for p in root.rglob("*.qms-tmp") if ".qms" not in p.parts]
        metas = check_consistent(root)
        check_rolled_forward(root, pending)
        assert not [p for p in root.rglob("*") if is_temp(p)], mode

    # crash after 0..n of the n journal operations (n: all applied, journal not yet removed):
    # the journal is there, and recovery completes the operation exactly once
    root, proc = run(0)
    n_ops = int(proc.stdout.split()[0])
    assert n_ops >= 2
    for k in range(0, n_ops + 1):
        if k:
            root, _ = run(k)
        pending = check_raw_journal(root, interrupted=True)
        assert pending is not None and len(pending) == n_ops, k
        metas = check_consistent(root)
        check_rolled_forward(root, pending)
        if doc_id:
            assert metas[doc_id]["status"] == expected, (k, metas[doc_id])
        else:
            new = [d for d, m in metas.items()
                   if not (base / "QMS/.meta" / m["doc_type"] / f"{d}.json").exists()]
            assert len(new) == 1 and metas[new[0]]["status"] == expected
        assert not journal_pending(root / ".qms" / "journal")
