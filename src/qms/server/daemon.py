"""`qms-mcp start --background | status | stop`: one background server per project.

State lives under the project: ``.qms/mcp.pid`` (JSON: pid, url, ...) and ``.qms/mcp.log``
(rotated by size: ``mcp.log.1`` ... ``mcp.log.3``, see ``logfile.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

from qms.errors import Conflict, QMSError
from qms.operations.mcp_config import WILDCARDS, base_url, claude_add_command, endpoint_url
from qms.server import logfile
from qms.server.app import bind
from qms.store.pidfile import STATE_DIR, alive, pid_path, running

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy


def log_path(root: Path) -> Path:
    return root / STATE_DIR / "mcp.log"


def healthy(url: str, timeout: float = 2.0) -> dict | None:
    """The `/healthz` answer of the server at `url` (base URL), or None."""
    try:
        with _DIRECT.open(f"{url}/healthz", timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def start(root: Path, host: str, port: int, serve_args: list[str]) -> int:
    """Spawn `qms-mcp <serve_args>` detached, wait until it answers, print how to connect."""
    state = running(root)
    if state:
        raise Conflict(f"qms-mcp is already running for this project (pid {state['pid']}, "
                       f"{state['url']}); see `qms-mcp status`")
    bind(host, port).close()  # refuse early, and clearly, if the port is taken
    log = log_path(root)
    log.parent.mkdir(parents=True, exist_ok=True)
    logfile.rotate_if_large(log)
    try:
        out = logfile.open_log(log)
    except OSError as exc:
        raise QMSError(f"Cannot write the server log {log}: {exc}") from None
    try:  # until the server captures its output itself (with rotation, see logfile.py)
        child = subprocess.Popen(
            [sys.executable, "-m", "qms.server.main", *serve_args],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            env={**os.environ, logfile.ENV: str(log)},
        )
    finally:
        os.close(out)
    url = endpoint_url(host, port)
    state = {"pid": child.pid, "url": url, "host": host, "port": port, "log": str(log)}
    pid_path(root).write_text(json.dumps(state))
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(base_url(host, port), timeout=1.0):
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pid_path(root).unlink(missing_ok=True)
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise QMSError("qms-mcp failed to start:\n  " + "\n  ".join(tail), log=str(log))
        time.sleep(0.2)
    print(f"qms-mcp running in the background (pid {child.pid})")
    print(f"  endpoint: {url}")
    if "--no-web" not in serve_args:
        print(f"  dashboard: {base_url(host, port)}/")
    if host in WILDCARDS:
        print(f"  from containers: http://host.docker.internal:{port}/mcp")
    print(f"  log:      {log}")
    auth = serve_args[serve_args.index("--auth") + 1] if "--auth" in serve_args else "optional"
    print(f"  auth:     {auth}" + (" (tokens: qms token issue USER)" if auth == "required"
                                      else ""))
    if auth == "required":  # a static --header would keep the secret in ~/.claude.json
        print("  connect Claude Code: qms mcp-config > .mcp.json, with a headersHelper that "
              "reads your token file (qms mcp-config shows it)")
    else:
        print(f"  connect Claude Code: {claude_add_command(url)}")
    return 0


def status(root: Path) -> int:
    """Print whether this project's server runs and answers; exit 0 only if it does."""
    state = running(root)
    if not state:
        print("qms-mcp is not running for this project")
        return 1
    health = healthy(base_url(state["host"], state["port"]))
    print(f"qms-mcp is running (pid {state['pid']}): {state['url']}")
    print(f"  log: {state['log']}")
    print(f"  health: {'ok' if health else 'NOT ANSWERING'}")
    return 0 if health else 1


def stop(root: Path) -> int:
    """Stop this project's server (SIGTERM, then SIGKILL after a grace period)."""
    state = running(root)
    if not state:
        print("qms-mcp is not running for this project")
        return 0
    pid = state["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_path(root).unlink(missing_ok=True)
    print(f"qms-mcp stopped (pid {pid})")
    return 0
