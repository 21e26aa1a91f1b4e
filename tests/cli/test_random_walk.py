"""Model-based random walks through the CLI: whatever sequence of commands (valid or not)
is run, no command crashes and the project-wide invariants hold after every step.

Invariants: STATUS_CHANGE events chain and end at the meta status; every inbox task
belongs to a pending assignee of a document in that workflow state at that version and
every pending assignee has a task; ``retiring`` only while in (post-)approval; no journal is
left behind; exit codes are 0, 1 or 2.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from qms.store.transaction import pending

TASK_RE = re.compile(r"^task-(?P<doc_id>.+)-(?P<wf>review|pre_review|post_review|approval|"
                     r"pre_approval|post_approval)-v(?P<v>\d+-\d+)\.md$")
AUTHORS = ["claude", "lead", "ini"]


def _metas(root) -> dict[str, dict]:
    out = {}
    for p in (root / "QMS" / ".meta").rglob("*.json"):
        if p.name.endswith(".source.json") or p.name == "sdlc_namespaces.json":
            continue
        out[p.stem] = json.loads(p.read_text())
    return out


def check_invariants(root) -> None:
    metas = _metas(root)
    for path in (root / "QMS" / ".audit").glob("*/*.jsonl"):  # document trails
        events = [json.loads(line) for line in path.read_text().splitlines()]
        assert all({"ts", "event", "user", "version"} <= set(e) for e in events), path
        if events[-1]["event"] == "CANCEL":
            assert path.stem not in metas
            continue
        meta = metas[path.stem]
        changes = [e for e in events if e["event"] == "STATUS_CHANGE"]
        for a, b in zip(changes, changes[1:]):
            assert a["to_status"] == b["from_status"], (path.stem, a, b)
        start = "IN_EXECUTION" if meta["doc_type"] == "VR" else "DRAFT"
        assert (changes[-1]["to_status"] if changes else start) == meta["status"], path.stem
    tasks = set()
    for t in (root / ".claude" / "users").glob("*/inbox/task-*.md"):
        m = TASK_RE.match(t.name)
        user, doc = t.parent.parent.name, m.group("doc_id")
        meta = metas.get(doc)
        assert meta is not None, f"task for a missing document: {t.name}"
        assert user in meta["pending_assignees"], f"stale task {t}"
        assert meta["status"] == "IN_" + m.group("wf").upper(), (t.name, meta["status"])
        assert m.group("v") == meta["version"].replace(".", "-"), (t.name, meta["version"])
        tasks.add((doc, user))
    for doc, meta in metas.items():
        for user in meta["pending_assignees"]:
            assert (doc, user) in tasks, f"{doc}: {user} is pending but has no task"
        if meta["pending_assignees"]:
            assert meta["status"].startswith("IN_") and meta["status"] != "IN_EXECUTION", doc
        if meta.get("retiring"):
            assert meta["status"] in ("IN_APPROVAL", "IN_POST_APPROVAL"), doc
    assert not pending(root / ".qms" / "journal")


def _next_step(rnd: random.Random, q, docs: list[str], i: int) -> tuple[str, tuple]:
    """Mostly the natural next step of a recent document; sometimes anything at all."""
    if docs and rnd.random() < 0.75:
        doc = rnd.choice(docs[-4:])
        meta = _metas(q.root).get(doc)
        if meta:
            st, owner = meta["status"], meta.get("responsible_user") or "claude"
            pending = meta["pending_assignees"] or ["qa"]
            if st.startswith("IN_") and st.endswith("REVIEW"):
                outcome = rnd.choice(["--recommend"] * 4 + ["--request-updates"])
                return rnd.choice(pending), ("review", doc, outcome, "--comment", f"c{i}")
            if st.startswith("IN_") and st.endswith("APPROVAL"):
                pick = rnd.choice(["approve"] * 5 + ["reject", "withdraw", "checkout"])
                if pick == "approve":
                    return rnd.choice(pending), ("approve", doc)
                if pick == "reject":
                    return rnd.choice(pending), ("reject", doc, "--comment", "no")
                return owner, (pick, doc)
            options = {
                "DRAFT": [("checkin", doc) if meta["checked_out"] else
                          ("route", doc, "--review", "--assign", "qa",
                           *rnd.sample(["tu", "ini"], rnd.randint(0, 1)))],
                "IN_EXECUTION": [("checkin", doc) if meta["checked_out"] else ("checkout", doc),
                                 ("route", doc, "--review"),
                                 ("create", rnd.choice(["VR", "VAR", "TP"]), "--title", "k",
                                  "--parent", doc)],
                "PRE_APPROVED": [("release", doc), ("release", doc), ("checkout", doc)],
                "POST_APPROVED": [("close", doc)],
                "CLOSED": [("create", "ADD", "--title", "a", "--parent", doc)],
                "EFFECTIVE": [("checkout", doc)],
                "REVIEWED": [("route", doc, "--approval",
                              *(["--retire"] if rnd.random() < 0.3 else [])), ("checkout", doc)],
                "PRE_REVIEWED": [("route", doc, "--approval"), ("checkout", doc)],
                "POST_REVIEWED": [("route", doc, "--approval"), ("checkout", doc),
                                  ("revert", doc, "--reason", "r")],
            }
            if meta["checked_out"] and st not in ("DRAFT", "IN_EXECUTION"):
                return owner, ("checkin", doc)
            if st in options:
                argv = rnd.choice(options[st])
                return (rnd.choice(["claude", "ini"]) if argv[0] == "create" else owner), argv
    doc = rnd.choice(docs) if docs else "CR-001"
    argv = rnd.choice([
        ("create", rnd.choice(["CR", "SOP", "INV"]), "--title", f"t{i}"),
        ("create", rnd.choice(["TP", "VAR", "VR", "ADD", "ER"]), "--title", "c", "--parent", doc),
        ("checkout", doc), ("checkin", doc), ("withdraw", doc), ("release", doc),
        ("close", doc), ("cancel", doc, "--confirm"), ("unlock", doc, "--reason", "r"),
        ("assign", doc, "--assignees", rnd.choice(["qa", "tu", "ini"])),
        ("route", doc, "--review"), ("route", doc, "--approval", "--retire"),
        ("approve", doc), ("review", doc, "--recommend", "--comment", "c"), ("status", doc),
    ])
    return rnd.choice(AUTHORS + ["qa", "tu"]), argv


@pytest.mark.parametrize("seed", [3, 11, 12])  # seeds whose walks reach execution and beyond
def test_random_walk_keeps_invariants(q, seed):
    q.add_users({"ini": "initiator"})
    rnd = random.Random(seed)
    docs: list[str] = []
    for i in range(150):
        if docs and rnd.random() < 0.08:  # an author edits a workspace copy, sometimes badly
            doc = rnd.choice(docs[-4:])
            for user in AUTHORS:
                ws = q.workspace_file(user, doc)
                if ws.exists():
                    ws.write_text(rnd.choice([
                        f"---\ntitle: e{i}\nrevision_summary: r\n---\n\n| P | EI | Type 2 |\n",
                        f"---\ntitle: e{i}\nrevision_summary: r\n---\n\n| P | EI | Type 1 |\n",
                        "---\ntitle: [broken\n---\n"]))
            continue
        user, argv = _next_step(rnd, q, docs, i)
        run = q(user, "--json", *argv)
        assert run.code in (0, 1, 2), (argv, run)
        body = json.loads(run.out)
        assert body["ok"] is (run.code == 0), (argv, body)
        if run.code == 0 and argv[0] == "create":
            docs.append(body["result"]["doc_id"])
        check_invariants(q.root)
    statuses = {m["status"] for d, m in _metas(q.root).items() if d in docs}
    assert len(statuses) >= 3, statuses  # the walk got somewhere
    run = q("qa", "--json", "verify", "--all-signatures")  # REQ-INTEG-001: no false findings
    assert run.code == 0, run.json["result"]["findings"]
