"""Password sign-in with an account lockout (CR-001) that says when it ends (CR-003)."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from dataclasses import dataclass, field


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000)


@dataclass
class Account:
    salt: bytes
    digest: bytes
    failures: int = 0
    locked_until: float = 0.0


@dataclass
class AuthService:
    threshold: int = 5
    lock_seconds: float = 15 * 60
    accounts: dict[str, Account] = field(default_factory=dict)

    def register(self, user: str, password: str) -> None:
        salt = os.urandom(16)
        self.accounts[user] = Account(salt, hash_password(password, salt))

    def sign_in(self, user: str, password: str, now: float) -> str:
        """'ok', 'invalid credentials' or 'account locked: try again in N min'."""
        account = self.accounts.get(user)
        if account is None:
            return "invalid credentials"
        if now < account.locked_until:
            minutes = math.ceil((account.locked_until - now) / 60)
            return f"account locked: try again in {minutes} min"
        if hmac.compare_digest(hash_password(password, account.salt), account.digest):
            account.failures = 0
            return "ok"
        account.failures += 1
        if account.failures >= self.threshold:
            account.failures = 0
            account.locked_until = now + self.lock_seconds
        return "invalid credentials"
