"""One-time push tickets: how the HTTP endpoint vouches for a pusher to the ``pre-receive``
hook that ``git http-backend`` runs in another process.

The server authenticates the bearer token, then :func:`issue` stores the SHA-256 of a random
ticket with the token's user in ``.qms/tickets/`` (0600, the server's private state) and
passes the ticket in the CGI environment. The hook :func:`redeem` s it once: the file is
removed as it is read, so a ticket works for one push only, and one a local pusher invents
(or copies from ``REMOTE_USER``) names no file. The server discards it when the request
ends.
"""

from __future__ import annotations

import json
import time

from qms.domain.integrity import sha256_text
from qms.errors import ProjectError
from qms.store import atomic
from qms.store.project import Project

ENV_TICKET = "QMS_PUSH_TICKET"  # how the ticket reaches the hook (the CGI environment)
TTL_S = 3600.0  # a push may upload for a long time before its hook runs


def _path(project: Project, ticket: str):
    return project.state_dir / "tickets" / sha256_text(ticket)


def issue(project: Project, user: str) -> str:
    import secrets  # deferred: the hook only redeems

    ticket = secrets.token_urlsafe(32)
    data = json.dumps({"user": user, "expires": time.time() + TTL_S}).encode()
    atomic.write_durable(_path(project, ticket), data, mode=0o600, root=project.root)
    return ticket


def redeem(project: Project, ticket: str) -> str | None:
    """The user a valid ticket names, consumed: of two hooks redeeming one ticket at once,
    only the one whose rename succeeds gets it."""
    import os

    if not ticket or len(ticket) > 200:
        return None
    name = _path(project, ticket).name
    try:
        atomic.check_dir(project.root, project.state_dir)
        folder = os.open(project.state_dir / "tickets", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except (OSError, ValueError, ProjectError):
        return None
    claimed = f"{name}.{os.getpid()}.redeemed"
    try:
        os.rename(name, claimed, src_dir_fd=folder, dst_dir_fd=folder)
        fd = os.open(claimed, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        with os.fdopen(fd, "rb") as f:
            data = f.read(4096)
        os.unlink(claimed, dir_fd=folder)
        record = json.loads(data)
    except (OSError, ValueError):
        return None
    finally:
        os.close(folder)
    if not isinstance(record, dict) or float(record.get("expires") or 0) < time.time():
        return None
    user = record.get("user")
    return user if isinstance(user, str) and user else None


def discard(project: Project, ticket: str) -> None:
    try:
        atomic.unlink(_path(project, ticket), project.root)
    except OSError:
        pass
