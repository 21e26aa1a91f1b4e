"""Identity resolution (spec section 5) on the registry itself: modes, locks, TTL, threads."""

from __future__ import annotations

import threading

import pytest

from qms.errors import Conflict, NotFound, PermissionDenied, UsageError
from qms.mcp.identity import Credential, IdentityRegistry, Mode, select_mode

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


@pytest.mark.req("REQ-AUTH-010")
@pytest.mark.parametrize("instance", [None, "", "  "])
def test_identity_header_without_instance_is_an_instance_of_its_own(registry, instance):
    headers = {"x-qms-identity": "qa"}
    if instance is not None:
        headers["x-qms-instance"] = instance
    for _ in range(2):  # the holder keeps working
        assert registry.resolve("qa", headers) == "qa"
    assert registry.locks() == {"qa": "header:qa"}
    with pytest.raises(Conflict, match=r"^IDENTITY LOCKED: .*header:qa"):
        registry.resolve("qa", enforced("qa", "inst-b"))  # a different instance is refused
    with pytest.raises(Conflict, match=r"^IDENTITY LOCKED"):
        registry.resolve("qa", {})  # and so is a trusted call


@pytest.mark.req("REQ-MCP-022")
def test_locks_are_taken_only_after_every_identity_check(clock):
    def known(user: str) -> None:
        if user != "qa":
            raise NotFound(f"Unknown user '{user}'.")

    registry = IdentityRegistry(ttl=10, clock=clock, known=known)
    with pytest.raises(NotFound):
        registry.resolve("ghost", enforced("ghost"))
    with pytest.raises(PermissionDenied):
        registry.resolve("claude", enforced("qa"))  # mismatch
    with pytest.raises(PermissionDenied):
        registry.resolve("qa", {"x-qms-identity": " "})
    with pytest.raises(PermissionDenied):
        registry.resolve("qa", enforced("qa"), Credential("tu", "t1"))  # header vs token
    assert registry.locks() == {}
    assert registry.resolve("ghost", {}) == "ghost"  # trusted: the operation refuses it later
    assert registry.locks() == {}


@pytest.mark.req("REQ-AUTH-004")
def test_token_identity_wins_and_others_are_refused_naming_it(registry):
    token = Credential("qa", "ab12cd34")
    for user, headers in (("claude", {}), ("claude", None), ("claude", enforced("qa")),
                          ("qa", enforced("claude")), ("qa", {"x-qms-identity": ""})):
        with pytest.raises(PermissionDenied, match="your token identifies you as 'qa'"):
            registry.resolve(user, headers, token)
    assert registry.locks() == {}
    assert registry.resolve("qa", {}, token) == "qa"
    assert registry.locks() == {"qa": "token:ab12cd34"}  # no instance header: its own instance
    with pytest.raises(Conflict, match="IDENTITY LOCKED"):
        registry.resolve("qa", {}, Credential("qa", "other"))
    with pytest.raises(Conflict, match="IDENTITY LOCKED"):
        registry.resolve("qa", enforced("qa", "inst-z"))


@pytest.mark.req("REQ-AUTH-004")
def test_token_with_instance_header_locks_to_that_instance(registry):
    token = Credential("qa", "ab12cd34")
    assert registry.resolve("qa", enforced("qa", "inst-a"), token) == "qa"
    assert registry.locks() == {"qa": "inst-a"}
    assert registry.resolve("qa", {"x-qms-instance": "inst-a"}, token) == "qa"


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
