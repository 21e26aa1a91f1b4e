"""git over HTTP is bounded: a backend still running after its time limit (a client that
stalls mid-push) is killed, and the server stops waiting for the request body."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from qms.web import git_http


class StalledRequest:
    """A request whose body never finishes arriving."""

    async def stream(self):
        yield b"0032want 0000000000000000000000000000000000000000\n"
        await asyncio.sleep(3600)


@pytest.mark.req("REQ-CODE-010")
def test_a_stalled_backend_is_ended_after_the_time_limit(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "repo.git")], check=True)
    monkeypatch.setattr(git_http, "BACKEND_TIMEOUT_S", 0.5)
    env = {"PATH": "/usr/bin:/bin", "GIT_PROJECT_ROOT": str(tmp_path / "repo.git"),
           "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": "/git-upload-pack",
           "REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-git-upload-pack-request"}
    ended = []

    async def run() -> None:
        response = await git_http._backend(StalledRequest(), env, lambda: ended.append(1))
        async for _ in response.body_iterator:
            pass

    start = time.monotonic()
    asyncio.run(asyncio.wait_for(run(), 30))
    assert time.monotonic() - start < 10  # ended by the limit, not by the client
