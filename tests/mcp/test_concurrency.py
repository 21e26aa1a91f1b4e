"""Concurrency through one real server: 16 sessions run whole lifecycles at once, 8 sessions
race for one checkout. Exactly one wins; every audit trail is complete and well-formed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import anyio
import pytest

from _mcp_support import lifecycle, lifecycle_steps, ok

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150), pytest.mark.req("REQ-MCP-019")]

SESSIONS = 16
RACERS = 8


def audit_events(root: Path, doc_id: str) -> list[dict]:
    lines = (root / "QMS" / ".audit" / "CR" / f"{doc_id}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]  # every line must parse


def expected_counts() -> Counter:
    counts = Counter({"CREATE": 1, "CHECKOUT": 1})
    for _user, tool, _args in lifecycle_steps("x"):
        counts[{"qms_route": "ROUTE", "qms_review": "REVIEW", "qms_approve": "APPROVE",
                "qms_checkin": "CHECKIN", "qms_checkout": "CHECKOUT", "qms_release": "RELEASE",
                "qms_close": "CLOSE"}[tool]] += 1
    return counts


def test_parallel_lifecycles_and_checkout_race(serve, project):
    served = serve("streamable-http")
    ids: list[str] = []
    outcomes: list[bool] = []

    async def one_lifecycle(n: int) -> None:
        async with served.client() as client:
            ids.append(await lifecycle(lambda _user: client, title=f"Parallel change {n}"))

    async def race(doc_id: str, user: str) -> None:
        async with served.client() as client:
            result = await client.call_tool("qms_checkout", {"user": user, "doc_id": doc_id})
            outcomes.append(not result.is_error)

    async def scenario() -> str:
        async with anyio.create_task_group() as tg:
            for n in range(SESSIONS):
                tg.start_soon(one_lifecycle, n)
        async with served.client() as client:
            created = await ok(client, "qms_create", user="claude", doc_type="CR",
                               title="Contended")
            await ok(client, "qms_checkin", user="claude", doc_id=created["doc_id"])
        async with anyio.create_task_group() as tg:
            for n in range(RACERS):
                tg.start_soon(race, created["doc_id"], "claude" if n % 2 else "lead")
        return created["doc_id"]

    contended = anyio.run(scenario)

    assert sorted(ids) == [f"CR-{n:03d}" for n in range(1, SESSIONS + 1)]  # no ID handed out twice
    want = expected_counts()
    for doc_id in ids:
        events = audit_events(project, doc_id)
        got = Counter(e["event"].split("_")[0] if e["event"].startswith("ROUTE") else e["event"]
                      for e in events)
        for event, count in want.items():
            assert got[event] == count, (doc_id, event, got)
        assert events[-1]["event"] == "STATUS_CHANGE" and events[-1]["to_status"] == "CLOSED"

    assert outcomes.count(True) == 1, outcomes
    events = audit_events(project, contended)
    assert [e["event"] for e in events].count("CHECKOUT") == 2  # create + the one winner
