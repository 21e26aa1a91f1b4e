"""Bearer-token authentication for `qms-mcp --auth off|optional|required`.

Built from the SDK's own parts: a `TokenVerifier` over the project's token store, the SDK's
`BearerAuthBackend` to read and verify `Authorization: Bearer`, its `RequireAuthMiddleware`
to answer 401 with `WWW-Authenticate: Bearer`, and its `AuthContextMiddleware`. The SDK's
server-level wiring (`AuthSettings`) is not used: it always requires a token and wants an
OAuth issuer, while `optional` must let token-less calls through yet refuse a bad token.

- `required`: every request to an MCP endpoint needs a valid token, else 401;
- `optional`: a token, when sent, is verified exactly so; calls without one pass;
- `off`: no checks. `/healthz` is always open (its details need a valid token, see
  :func:`bearer_valid`). The web pages (when served) authenticate
  in `qms.web.auth` with the same tokens, so a browser can sign in with a session cookie.

The verified token's user reaches identity resolution (`qms.mcp.identity`) as a
`Credential`; nothing else decides who a call acts as.
"""

from __future__ import annotations

import ipaddress
import logging
from enum import StrEnum

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import (
    AuthenticatedUser,
    BearerAuthBackend,
    RequireAuthMiddleware,
)
from mcp.server.auth.provider import AccessToken
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from qms.errors import PermissionDenied, QMSError
from qms.mcp.identity import Credential
from qms.store import tokens
from qms.store.project import Project

ENV_AUTH = "QMS_AUTH"
log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/healthz"})
MCP_PATHS = ("/mcp", "/sse", "/messages")  # the transports' endpoints


class AuthMode(StrEnum):
    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1); wildcards are not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ProjectTokenVerifier:
    """The SDK's `TokenVerifier` protocol over the project's token store."""

    def __init__(self, project: Project) -> None:
        self.project = project

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            entry = tokens.verify(self.project, token)
        except QMSError as err:  # a damaged store: refuse (401), tell the operator
            log.error("cannot verify tokens: %s", err.message)
            return None
        if entry is None:
            return None
        # the secret itself is never kept: the token id stands in for it
        return AccessToken(token=entry["id"], client_id=entry["id"], subject=entry["user"],
                           scopes=[])


class BearerGate:
    """ASGI middleware in front of the MCP endpoints (see the module docstring)."""

    def __init__(self, app: ASGIApp, project: Project, mode: AuthMode,
                 pages: bool = False) -> None:
        self.app = AuthContextMiddleware(app)
        self.pages = pages  # web pages are served too: they check tokens themselves
        self.required = mode is AuthMode.REQUIRED
        self.backend = BearerAuthBackend(ProjectTokenVerifier(project))
        self.refuse = RequireAuthMiddleware(app, required_scopes=[])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or \
                (self.pages and not scope["path"].startswith(MCP_PATHS)):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        if not self.required and "authorization" not in connection.headers:
            await self.app(scope, receive, send)
            return
        verified = await self.backend.authenticate(connection)
        if verified is None:  # missing, not Bearer, unknown, revoked or expired
            scope["user"] = None
            await self.refuse(scope, receive, send)
            return
        scope["auth"], scope["user"] = verified
        await self.app(scope, receive, send)


async def bearer_valid(connection: HTTPConnection, project: Project) -> bool:
    """Whether the request carries a valid bearer token (verified like every other one)."""
    scheme, _, secret = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return False
    return await ProjectTokenVerifier(project).verify_token(secret.strip()) is not None


def request_credential(request: object) -> Credential | None:
    """The credential `BearerGate` verified for this HTTP request, if any."""
    scope = getattr(request, "scope", None) or {}
    user = scope.get("user")
    if isinstance(user, AuthenticatedUser):
        token = user.access_token
        return Credential(token.subject or "", token.client_id)
    return None


def stdio_credential(project: Project, secret: str | None) -> Credential | None:
    """The stdio server's own token (from its environment), checked again on every call so a
    revocation or expiry counts at once; None when it has none."""
    if secret is None:
        return None
    entry = tokens.verify(project, secret)
    if entry is None:
        raise PermissionDenied(
            "The token of this stdio server ($QMS_TOKEN/$QMS_TOKEN_FILE) is not valid: unknown, "
            "revoked or expired. Stop and tell the user; an administrator issues a new one.")
    return Credential(entry["user"], entry["id"])
