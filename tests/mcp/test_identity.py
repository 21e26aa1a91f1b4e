"""Identity resolution (spec section 5) on the registry itself: modes, locks, TTL, threads."""

from __future__ import annotations

import threading

import pytest

from qms.errors import Conflict, PermissionDenied, UsageError
from qms.mcp.identity import IdentityRegistry, Mode, select_mode

pytestmark = pytest.mark.req("REQ-MCP-015")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def enforced(identity: str, instance: str = "inst-a") -> dict[str, str]:
    return {"x-qms-identity": identity, "x-qms-instance": instance}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> IdentityRegistry:
    return IdentityRegistry(ttl=10, clock=clock)


def test_mode_follows_header_presence_not_transport():
    assert select_mode(None) is Mode.STDIO
    assert select_mode({}) is Mode.TRUSTED
    assert select_mode({"X-QMS-Identity": "qa"}) is Mode.ENFORCED
    assert select_mode({"x-qms-identity": ""}) is Mode.ENFORCED  # present but empty: no bypass


@pytest.mark.parametrize("user", ["", "   ", None])
def test_missing_user_is_refused_helpfully(registry, user):
    with pytest.raises(UsageError, match="'user' argument is required.*e.g. user="):
        registry.resolve(user, None)


def test_trusted_and_stdio_use_the_user_argument(registry):
    assert registry.resolve("claude", {}) == "claude"
    assert registry.resolve("claude", None) == "claude"
    assert registry.locks() == {}  # trusted callers never lock


def test_enforced_mismatch_names_real_identity_and_warns(registry):
    with pytest.raises(PermissionDenied) as err:
        registry.resolve("claude", enforced("qa"))
    assert "identified as 'qa'" in err.value.message
    assert "user='qa'" in err.value.message
    assert "impersonation" in err.value.message


def test_enforced_empty_header_is_refused(registry):
    with pytest.raises(PermissionDenied, match="present but empty"):
        registry.resolve("qa", {"x-qms-identity": " "})


@pytest.mark.req("REQ-MCP-016")
@pytest.mark.parametrize("instance", [None, "", "  "])
def test_enforced_without_instance_is_refused_never_a_shared_lock(registry, instance):
    headers = {"x-qms-identity": "qa"}
    if instance is not None:
        headers["x-qms-instance"] = instance
    for _ in range(2):  # two instance-less agents must not share one lock
        with pytest.raises(PermissionDenied, match="without an X-QMS-Instance"):
            registry.resolve("qa", headers)
    assert registry.locks() == {}


@pytest.mark.req("REQ-MCP-016")
def test_enforced_locks_and_blocks_trusted_and_second_instance(registry, clock):
    assert registry.resolve("qa", enforced("qa", "inst-a")) == "qa"
    assert registry.locks() == {"qa": "inst-a"}
    for headers in ({}, None):
        with pytest.raises(Conflict, match=r"^IDENTITY LOCKED: .*Do not troubleshoot"):
            registry.resolve("qa", headers)
    with pytest.raises(Conflict, match=r"^IDENTITY LOCKED: .*inst-a.*Do not troubleshoot"):
        registry.resolve("qa", enforced("qa", "inst-b"))
    assert registry.resolve("claude", {}) == "claude"  # other identities unaffected


@pytest.mark.req("REQ-MCP-016")
def test_heartbeat_keeps_lock_and_ttl_expiry_frees_it(registry, clock):
    registry.resolve("qa", enforced("qa"))
    clock.now = 8
    registry.resolve("qa", enforced("qa"))  # heartbeat at t=8
    clock.now = 16
    with pytest.raises(Conflict):
        registry.resolve("qa", {})  # 8 s since the heartbeat: still locked
    clock.now = 18.5
    assert registry.resolve("qa", {}) == "qa"  # expired
    assert registry.resolve("qa", enforced("qa", "inst-b")) == "qa"  # a new instance may claim it


@pytest.mark.req("REQ-MCP-016")
def test_concurrent_claims_one_instance_wins(registry):
    wins: list[str] = []
    barrier = threading.Barrier(16)

    def claim(n: int) -> None:
        barrier.wait()
        try:
            registry.resolve("qa", enforced("qa", f"inst-{n}"))
            wins.append(f"inst-{n}")
        except Conflict:
            pass

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert registry.locks() == {"qa": wins[0]}
