"""Caller identity: the one place that decides who a tool call acts as.

Mode is chosen by the presence of the ``X-QMS-Identity`` header, never by transport:

- header present -> ENFORCED: ``user`` must equal the header; the identity is locked to the
  caller's ``X-QMS-Instance`` (required: without it two agents would share one lock) for
  ``ttl`` seconds, refreshed by every call (heartbeat);
- header absent on HTTP -> TRUSTED: identity is ``user``; no lock is taken, but the call is
  refused while an enforced lock on that identity is alive;
- no HTTP request at all (stdio) -> STDIO: the explicit trusted path, same lock check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from enum import StrEnum

from qms.errors import Conflict, PermissionDenied, UsageError

IDENTITY_HEADER = "x-qms-identity"
INSTANCE_HEADER = "x-qms-instance"
DEFAULT_TTL = 300.0

log = logging.getLogger(__name__)


class Mode(StrEnum):
    ENFORCED = "enforced"
    TRUSTED = "trusted"
    STDIO = "stdio"


def select_mode(headers: Mapping[str, str] | None) -> Mode:
    """ENFORCED if the identity header is present (even empty), TRUSTED on other HTTP requests,
    STDIO when there is no HTTP request at all."""
    if headers is None:
        return Mode.STDIO
    return Mode.ENFORCED if _get(headers, IDENTITY_HEADER) is not None else Mode.TRUSTED


def _get(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _short(instance: str) -> str:
    return instance[:8]


class IdentityRegistry:
    """Thread-safe TTL locks ``identity -> (instance, last_seen)`` for enforced callers."""

    def __init__(self, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._locks: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    def resolve(self, user: str | None, headers: Mapping[str, str] | None) -> str:
        """Return the identity this call acts as, or raise a QMSError saying why not."""
        if not user or not user.strip():
            raise UsageError(
                "The 'user' argument is required and must not be empty: pass your QMS identity, "
                "e.g. user='claude'. Every qms tool acts on behalf of a named user."
            )
        user = user.strip()
        mode = select_mode(headers)
        with self._mutex:
            now = self._clock()
            self._purge(now)
            if mode is Mode.ENFORCED:
                assert headers is not None
                return self._enforce(user, headers, now)
            self._check_unlocked(user, mode)
            return user

    def locks(self) -> dict[str, str]:
        """Live locks as ``identity -> instance`` (for diagnostics)."""
        with self._mutex:
            self._purge(self._clock())
            return {ident: inst for ident, (inst, _) in self._locks.items()}

    def _purge(self, now: float) -> None:
        for ident in [i for i, (_, seen) in self._locks.items() if now - seen > self.ttl]:
            log.info("identity lock on %r expired", ident)
            del self._locks[ident]

    def _enforce(self, user: str, headers: Mapping[str, str], now: float) -> str:
        identity = (_get(headers, IDENTITY_HEADER) or "").strip()
        instance = (_get(headers, INSTANCE_HEADER) or "").strip()
        if not identity:
            raise PermissionDenied(
                "The X-QMS-Identity header is present but empty: this connection has no identity. "
                "Fix the proxy configuration (QMS_USER); do not try to work around it."
            )
        if not instance:
            raise PermissionDenied(
                "The X-QMS-Identity header comes without an X-QMS-Instance header: the identity "
                "cannot be locked to one running agent. Connect through qms-mcp-proxy (it sends "
                "both); do not try to work around it.",
                identity=identity,
            )
        if user != identity:
            raise PermissionDenied(
                f"Identity mismatch: this connection is identified as '{identity}' "
                f"(X-QMS-Identity), but user='{user}' was passed. Pass user='{identity}'. "
                "Acting as another identity is impersonation and a violation of the QMS.",
                identity=identity,
                requested=user,
            )
        held = self._locks.get(identity)
        if held is not None and held[0] != instance:
            raise Conflict(
                f"IDENTITY LOCKED: identity '{identity}' is already in use by another running "
                f"instance ({_short(held[0])}); this request comes from instance "
                f"{_short(instance)}. Two agents (for example two containers) claim the same "
                "identity. Do not troubleshoot: stop and tell the user that one of the two "
                "instances must be stopped.",
                identity=identity,
                instance=held[0],
            )
        if held is None:
            log.info("identity %r locked to instance %s", identity, _short(instance))
        self._locks[identity] = (instance, now)
        return identity

    def _check_unlocked(self, user: str, mode: Mode) -> None:
        held = self._locks.get(user)
        if held is not None:
            raise Conflict(
                f"IDENTITY LOCKED: identity '{user}' belongs to a running agent connected in "
                f"enforced mode (instance {_short(held[0])}); this {mode.value} request is "
                "refused. Do not troubleshoot: stop and tell the user. Use your own identity, or "
                "wait until that agent has stopped and its lock has expired.",
                identity=user,
                instance=held[0],
            )
