"""What every web response shares: the security headers and the HTTP status of a refusal."""

from __future__ import annotations

from qms.errors import Conflict, NotFound, PermissionDenied, QMSError, UsageError, ValidationError

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; "
                               "img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the
    # sign-in form, which the Origin guard rightly refuses
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def status_code(err: QMSError) -> int:
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, PermissionDenied):
        return 403
    if isinstance(err, Conflict) or err.details.get("kind") in ("changed", "planted", "missing"):
        return 409   # a text that is not what the trail records is refused, not a server fault
    return 400 if isinstance(err, (ValidationError, UsageError)) else 500
