"""The qms exception hierarchy, written down once.

    QMSError                    base; every refusal the tool makes is one of these
    ├── UsageError              the request itself is malformed (CLI exit 2)
    ├── ValidationError         an argument value is not acceptable
    ├── NotFound                document, version, user, project ... does not exist
    ├── PermissionDenied        the caller may not do this (group, owner, assignment)
    ├── InvalidTransition       the document's state does not allow the action
    ├── Conflict                someone else holds it / it already exists
    └── ProjectError            the project on disk is missing or damaged

Each error carries a stable ``code`` and builds its own one-line message. Adapters turn
errors into their surface in exactly one place: the CLI (stderr + exit code), the MCP server
(a tool error) and ``to_dict()`` (the pinned JSON error shape
``{"code": ..., "message": ..., "details": {...}}``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any


class QMSError(Exception):
    """Base class. ``exit_code`` is what the CLI returns (1 = refused, 2 = usage)."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return self.message


class UsageError(QMSError):
    code = "usage"
    exit_code = 2


class ValidationError(QMSError):
    code = "invalid"


class NotFound(QMSError):
    code = "not_found"


class PermissionDenied(QMSError):
    code = "permission_denied"


class InvalidTransition(QMSError):
    code = "invalid_transition"


class Conflict(QMSError):
    code = "conflict"


class ProjectError(QMSError):
    code = "project"


def from_os_error(exc: OSError) -> QMSError:
    """The file system refused (a folder where a file belongs, no space, no access)."""
    where = f" ({exc.filename})" if exc.filename else ""
    return ProjectError(f"{exc.strerror or exc}{where}.", errno=exc.errno)
