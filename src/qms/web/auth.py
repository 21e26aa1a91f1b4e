"""The one request-authentication hook every page goes through, and the sign-in pages.

``authenticate(request, project, mode)`` returns the identity a page reads as, or a
``Response`` sent instead of the page. ``mode`` is the server's ``--auth``:

- ``off``: pages are open (read-only);
- ``optional`` (the loopback default): open, but a credential that is sent must be valid;
- ``required``: a valid token is needed: an ``Authorization: Bearer`` header (scripts), or
  the session cookie that ``/signin`` gives in exchange for a token (browsers). Without one
  a browser is sent to ``/signin``; a bad Bearer token gets 401.

A session lives in this process only (a restart signs everyone out) and holds the token, so a
revoked or expired token ends its sessions at the next page. The cookie is HttpOnly and
SameSite=Strict; the session id is random and never derived from the token.

Pages read as ``VIEWER``: operations validate their user and the built-in administrator
exists in every project. The web adapter only ever calls read-only operations, so the
identity grants nothing a page could use to change a record.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from qms.errors import QMSError
from qms.store import tokens
from qms.store.project import Project
from qms.web import sessions

VIEWER = "lead"


def token_user(project: Project, secret: str) -> str | None:
    """The user of a valid token; a damaged token store refuses every token."""
    try:
        return tokens.authenticate(project, secret)
    except QMSError:
        return None


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def bearer_user(request: Request, project: Project) -> str | None:
    """The user of the request's valid Bearer token, if it sends one."""
    header = bearer(request)
    return token_user(project, header) if header is not None else None


def signed_in(request: Request, project: Project) -> str | None:
    """The user of the request's session cookie, if it is still valid."""
    session = request.cookies.get(sessions.TOKEN_COOKIE)
    item = sessions.TOKENS.get(session) if session else None
    if item is None:
        return None
    user = token_user(project, item["secret"])
    if user is None:
        sessions.TOKENS.pop(session)
    return user


def to_signin(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/signin?next={quote(target, safe='')}", 303)
    response.delete_cookie(sessions.TOKEN_COOKIE, path="/")
    return response


def unauthorized(message: str) -> Response:
    return PlainTextResponse(message, 401, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(request: Request, project: Project, mode: str) -> str | Response:
    """The identity the page acts as, or the response to send instead of it."""
    if mode == "off":
        return VIEWER
    header = bearer(request)
    if header is not None:
        if token_user(project, header) is None:
            return unauthorized("The bearer token is not valid (unknown, revoked or expired).")
        return VIEWER
    if request.cookies.get(sessions.TOKEN_COOKIE):
        if signed_in(request, project) is None:
            return to_signin(request)  # the session ended (token revoked, expired, restart)
        return VIEWER
    if mode == "required":
        return VIEWER if sessions.passkey_user(request) else to_signin(request)
    return VIEWER


def safe_next(target: str | None) -> str:
    """Only a path on this server ("/..."), never another site ("//host", "/\\host")."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target
