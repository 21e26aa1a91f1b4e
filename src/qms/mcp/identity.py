"""Caller identity: the one place that decides who a tool call acts as.

Inputs: the `user` argument, the HTTP headers (None on stdio) and the caller's verified
bearer token (a `Credential`, see `qms.mcp.auth`), if any.

- token -> AUTHENTICATED: the identity is the token's user; `user` and an `X-QMS-Identity`
  header, when sent, must name the same user;
- `X-QMS-Identity` present, no token -> ENFORCED: ``user`` must equal the header;
- header absent on HTTP -> TRUSTED: identity is ``user``; no lock is taken, but the call is
  refused while a lock on that identity is alive;
- no HTTP request at all (stdio) -> STDIO: the explicit trusted path, same lock check.

AUTHENTICATED and ENFORCED callers lock the identity to their instance for ``ttl`` seconds,
refreshed by every call (heartbeat). The instance is `X-QMS-Instance`; a caller without one
(the MCP Inspector, a static Claude Code `--header` config) is an instance of its own:
``header:<identity>``, or ``token:<token id>`` with a token. A lock is only taken once every
identity check has passed, including that the identity is a known user.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import NamedTuple

from qms.errors import Conflict, PermissionDenied, UsageError

IDENTITY_HEADER = "x-qms-identity"
INSTANCE_HEADER = "x-qms-instance"
DEFAULT_TTL = 300.0

log = logging.getLogger(__name__)


class Credential(NamedTuple):
    """A verified bearer token: whose it is and its id (never the secret)."""

    user: str
    token_id: str


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
    """Random instance ids shortened; synthetic ones (``header:qa``) shown whole."""
    return instance if ":" in instance else instance[:8]


def _no_check(identity: str) -> None:
    return None


class IdentityRegistry:
    """Thread-safe TTL locks ``identity -> (instance, last_seen)`` for enforced callers."""

    def __init__(self, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic,
                 known: Callable[[str], object] = _no_check) -> None:
        """`known(identity)` raises a QMSError for an identity that is not a user."""
        self.ttl = ttl
        self._clock = clock
        self._known = known
        self._locks: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    def resolve(self, user: str | None, headers: Mapping[str, str] | None,
                credential: Credential | None = None) -> str:
        """Return the identity this call acts as, or raise a QMSError saying why not."""
        if not user or not user.strip():
            raise UsageError(
                "The 'user' argument is required and must not be empty: pass your QMS identity, "
                "e.g. user='claude'. Every qms tool acts on behalf of a named user."
            )
        user = user.strip()
        if credential is not None:
            identity, instance = self._authenticated(user, headers or {}, credential)
        elif select_mode(headers) is Mode.ENFORCED:
            assert headers is not None
            identity, instance = self._enforced(user, headers)
        else:
            mode = Mode.STDIO if headers is None else Mode.TRUSTED
            with self._mutex:
                self._purge(self._clock())
                self._check_unlocked(user, mode)
            return user
        with self._mutex:
            held = self._locks.get(identity)
        if held is None or held[0] != instance:  # a lock is only ever given to a known user
            self._known(identity)
        with self._mutex:
            now = self._clock()
            self._purge(now)
            return self._lock(identity, instance, now)

    def locks(self) -> dict[str, str]:
        """Live locks as ``identity -> instance`` (for diagnostics)."""
        with self._mutex:
            self._purge(self._clock())
            return {ident: inst for ident, (inst, _) in self._locks.items()}

    def _purge(self, now: float) -> None:
        for ident in [i for i, (_, seen) in self._locks.items() if now - seen > self.ttl]:
            log.info("identity lock on %r expired", ident)
            del self._locks[ident]

    @staticmethod
    def _authenticated(user: str, headers: Mapping[str, str],
                       credential: Credential) -> tuple[str, str]:
        identity = credential.user
        claimed = _get(headers, IDENTITY_HEADER)
        if claimed is not None and claimed.strip() != identity:
            raise PermissionDenied(
                f"Identity mismatch: your token identifies you as '{identity}', but the "
                f"X-QMS-Identity header says '{claimed.strip()}'. Fix QMS_USER (or the header) "
                f"to '{identity}'. Acting as another identity is impersonation and a violation "
                "of the QMS.", identity=identity, requested=claimed.strip())
        if user != identity:
            raise PermissionDenied(
                f"Identity mismatch: your token identifies you as '{identity}', but "
                f"user='{user}' was passed. Pass user='{identity}'. Acting as another identity "
                "is impersonation and a violation of the QMS.",
                identity=identity, requested=user)
        instance = (_get(headers, INSTANCE_HEADER) or "").strip()
        return identity, instance or f"token:{credential.token_id}"

    @staticmethod
    def _enforced(user: str, headers: Mapping[str, str]) -> tuple[str, str]:
        identity = (_get(headers, IDENTITY_HEADER) or "").strip()
        if not identity:
            raise PermissionDenied(
                "The X-QMS-Identity header is present but empty: this connection has no identity. "
                "Fix the proxy configuration (QMS_USER); do not try to work around it."
            )
        if user != identity:
            raise PermissionDenied(
                f"Identity mismatch: this connection is identified as '{identity}' "
                f"(X-QMS-Identity), but user='{user}' was passed. Pass user='{identity}'. "
                "Acting as another identity is impersonation and a violation of the QMS.",
                identity=identity,
                requested=user,
            )
        instance = (_get(headers, INSTANCE_HEADER) or "").strip()
        return identity, instance or f"header:{identity}"

    def _lock(self, identity: str, instance: str, now: float) -> str:
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
                f"IDENTITY LOCKED: identity '{user}' belongs to a running agent that holds its "
                f"lock (instance {_short(held[0])}); this {mode.value} request is "
                "refused. Do not troubleshoot: stop and tell the user. Use your own identity, or "
                "wait until that agent has stopped and its lock has expired.",
                identity=user,
                instance=held[0],
            )
