"""The dashboard's in-memory sessions: one bounded, thread-safe store with expiry, used for
the token sign-in session (cookie ``qms_session``: the token it was opened with), the
browser session of passkey pages (cookie ``qms_browser``: CSRF token, the passkey user) and
the single-use passkey challenges. Nothing here is written to disk: a restart signs everyone
out."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

from starlette.requests import Request

SESSION_TTL = 12 * 3600.0
CHALLENGE_TTL = 300.0
MAX_ITEMS = 1000
TOKEN_COOKIE = "qms_session"
BROWSER_COOKIE = "qms_browser"


class Store:
    """A bounded, thread-safe, in-memory map with expiry (sessions, challenges)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: OrderedDict[str, tuple[dict, float]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, value: dict, key: str | None = None) -> str:
        key = key or secrets.token_urlsafe(32)
        with self._lock:
            self._items[key] = (value, time.monotonic() + self.ttl)
            while len(self._items) > MAX_ITEMS:
                self._items.popitem(last=False)
        return key

    def get(self, key: str | None) -> dict | None:
        with self._lock:
            item = self._items.get(key or "")
            if item is None or item[1] <= time.monotonic():
                self._items.pop(key or "", None)
                return None
            return item[0]

    def pop(self, key: str | None) -> dict | None:
        with self._lock:
            item = self._items.pop(key or "", None)
        return item[0] if item and item[1] > time.monotonic() else None


TOKENS = Store(SESSION_TTL)        # token session id -> {secret}
BROWSERS = Store(SESSION_TTL)      # browser session id -> {csrf, user, flash}
CHALLENGES = Store(CHALLENGE_TTL)  # nonce -> {kind, session, ...}: popped on use


def passkey_user(request: Request) -> str | None:
    """Who signed in with a passkey in this browser (None: nobody)."""
    session = BROWSERS.get(request.cookies.get(BROWSER_COOKIE))
    return session.get("user") if session else None
