"""Git over HTTP at ``/git/``: the project's repository through git's own
``git http-backend`` (smart HTTP, a CGI), authenticated with the server's bearer tokens.

Clone URL ``http://HOST:PORT/git/``; a client sends its token with
``git -c http.extraHeader="Authorization: Bearer $(cat qa.token)" clone ...``.

* with ``--auth required`` every request needs a valid token (else 401); with ``off`` or
  ``optional`` a fetch may come without one, but a token that is sent must be valid;
* a push needs a valid token: its user is the pusher, whatever the push says. The server
  hands the ``pre-receive`` gate a one-time ticket naming that user (``qms.store.tickets``;
  a local pusher cannot make one) and discards it when the request ends.

Self-contained: :func:`mount` adds the route to any Starlette app.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import suppress
from pathlib import Path

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from qms.errors import QMSError
from qms.store import tickets, tokens
from qms.store.project import Project

BACKEND_TIMEOUT_S = 3600.0  # a clone or push that takes longer is ended
_PASS = ("CONTENT_TYPE", "CONTENT_LENGTH")
_HEADERS = {"content-encoding": "HTTP_CONTENT_ENCODING", "git-protocol": "GIT_PROTOCOL"}


def mount(app: Starlette, project: Project, auth_mode: str = "off") -> None:
    """Serve ``project``'s repository at ``/git/`` (``auth_mode``: the server's ``--auth``)."""
    endpoint = GitHttp(project, str(auth_mode))
    app.router.routes.insert(0, Route("/git/{path:path}", endpoint.handle, methods=["GET", "POST"]))


class GitHttp:
    def __init__(self, project: Project, auth_mode: str) -> None:
        self.project, self.required = project, auth_mode == "required"

    def _git_dir(self) -> Path | None:
        from qms.store.git import Repo

        repo = Repo.of(self.project.root)
        return None if repo is None else repo.git_dir

    async def handle(self, request: Request) -> Response:
        user, refusal = await self._user(request)
        if refusal is not None:
            return refusal
        path = "/" + request.path_params["path"]
        pushing = path.endswith("/git-receive-pack") or \
            request.query_params.get("service") == "git-receive-pack"
        if pushing and user is None:
            return _text(403, "Pushing needs a valid bearer token (http.extraHeader="
                              "'Authorization: Bearer ...'): its user is the pusher.")
        git_dir = await run_in_threadpool(self._git_dir)
        if git_dir is None:
            return _text(404, "The project has no git repository.")
        ticket = await run_in_threadpool(tickets.issue, self.project, user) if pushing else None
        env = _cgi_env(request, path, git_dir, user, ticket)
        return await _backend(request, env, lambda: self._discard(ticket))

    async def _user(self, request: Request) -> tuple[str | None, Response | None]:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if not secret.strip() or scheme.lower() != "bearer":
            if self.required:
                return None, _text(401, "A bearer token is required.", bearer=True)
            return None, None
        try:
            entry = await run_in_threadpool(tokens.verify, self.project, secret.strip())
        except QMSError:
            entry = None
        if entry is None:
            return None, _text(401, "The token is not valid (unknown, revoked or expired).",
                               bearer=True)
        return str(entry["user"]), None

    def _discard(self, ticket: str | None) -> None:
        if ticket is not None:
            tickets.discard(self.project, ticket)


def _text(status: int, message: str, bearer: bool = False) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="qms"'} if bearer else {}
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


def _cgi_env(request: Request, path: str, git_dir: Path, user: str | None,
             ticket: str | None) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(GIT_PROJECT_ROOT=str(git_dir), GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
               REQUEST_METHOD=request.method, QUERY_STRING=request.url.query or "",
               REMOTE_ADDR=request.client.host if request.client else "",
               GIT_CONFIG_NOSYSTEM="1")
    for key in _PASS:
        value = request.headers.get(key.lower().replace("_", "-"))
        if value:
            env[key] = value
    for header, key in _HEADERS.items():
        if request.headers.get(header):
            env[key] = request.headers[header]
    if user is not None:
        env["REMOTE_USER"] = user
    if ticket is not None:
        env[tickets.ENV_TICKET] = ticket
    return env


async def _backend(request: Request, env: dict[str, str], done) -> Response:
    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend", env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    feeder = asyncio.create_task(_feed(request, proc))
    watchdog = asyncio.get_running_loop().call_later(BACKEND_TIMEOUT_S, _end, proc, feeder)
    head = b""
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        chunk = await proc.stdout.read(65536)
        if not chunk:
            break
        head += chunk
    sep = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
    header_block, _, rest = head.partition(sep)
    status, headers = 200, {}
    for line in header_block.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "status":
            status = int(value.strip().split()[0] or 200)
        elif key.strip():
            headers[key.strip()] = value.strip()

    async def body():
        try:
            if rest:
                yield rest
            while chunk := await proc.stdout.read(65536):
                yield chunk
        finally:
            with suppress(asyncio.CancelledError):
                await feeder
            await proc.wait()
            watchdog.cancel()

    def finish() -> None:
        done()

    return StreamingResponse(body(), status_code=status, headers=headers,
                             background=BackgroundTask(finish))


def _end(proc: asyncio.subprocess.Process, feeder: asyncio.Task) -> None:
    """A backend still running after BACKEND_TIMEOUT_S (e.g. a client that stalled
    mid-request) is killed, and the request body is no longer waited for."""
    feeder.cancel()
    if proc.returncode is None:
        proc.kill()


async def _feed(request: Request, proc: asyncio.subprocess.Process) -> None:
    try:
        async for chunk in request.stream():
            if chunk:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
    except (ConnectionError, BrokenPipeError):
        pass
    finally:
        try:
            proc.stdin.close()
        except (ConnectionError, BrokenPipeError):
            pass
