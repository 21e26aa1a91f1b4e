"""The one request-authentication hook every page goes through.

``authenticate(request, project)`` returns the identity a page reads as, or a ``Response``
that is sent instead of the page (a 401, or a redirect to a sign-in page). Today the pages are open
and read-only: every page reads as ``VIEWER``. Bearer tokens and a sign-in page with an
HttpOnly, SameSite=Strict session cookie plug in here, and nowhere else.

Why ``lead``: operations validate their user, and the built-in administrator exists in every
project. The web adapter only ever calls read-only operations (status, read, history,
inbox, documents, document_versions, trace, namespace_list), so the identity
grants nothing a page could use to change a record.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qms.store.project import Project

VIEWER = "lead"


async def authenticate(request: Request, project: Project) -> str | Response:
    """The identity the page acts as, or the response to send instead of it."""
    return VIEWER
