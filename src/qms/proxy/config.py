"""Proxy settings: the upstream URL, retry/timeout policy and the identity headers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx2

from qms.store.tokens import secret_from_env

IDENTITY_HEADER = "X-QMS-Identity"
INSTANCE_HEADER = "X-QMS-Instance"
CONNECT_TIMEOUT_CAP = 10.0


@dataclass(frozen=True)
class ProxyConfig:
    url: str
    retries: int = 3
    timeout: float = 300.0
    identity: str | None = None
    token: str | None = field(default=None, repr=False)
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_env(cls, url: str, retries: int, timeout: float, env: Mapping[str, str] = os.environ) -> ProxyConfig:
        """Identity from `QMS_USER`, bearer token from `QMS_TOKEN_FILE` (a Docker secret file;
        a trailing newline is ignored) or `QMS_TOKEN`.

        A `QMS_USER` that is set but blank still sends the (empty) identity header, so the
        server refuses every call instead of silently trusting the caller. A blank token is unset.
        """
        identity = env.get("QMS_USER")
        return cls(
            url=url,
            retries=retries,
            timeout=timeout,
            identity=None if identity is None else identity.strip(),
            token=secret_from_env(env=dict(env)),
        )

    def headers(self) -> dict[str, str]:
        """Headers stamped on every upstream HTTP request."""
        headers = {INSTANCE_HEADER: self.instance}
        if self.identity is not None:
            headers[IDENTITY_HEADER] = self.identity
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def http_timeout(self) -> httpx2.Timeout:
        """`timeout` for waiting on the server; connecting gives up sooner (then retries)."""
        return httpx2.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT_CAP))

    @property
    def safe_url(self) -> str:
        """The URL without any userinfo, for logs and error messages."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
