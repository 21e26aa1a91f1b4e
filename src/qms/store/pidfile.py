"""Where a project's background `qms-mcp` records itself (``.qms/mcp.pid``, JSON: pid, url,
...), so the daemon commands and `qms mcp-config` can find the running server."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qms.errors import QMSError
from qms.store import atomic

STATE_DIR = ".qms"


def pid_path(root: Path) -> Path:
    return root / STATE_DIR / "mcp.pid"


def running(root: Path) -> dict | None:
    """The state of this project's live server, or None (a stale pid file is removed)."""
    path = pid_path(root)
    try:
        state = json.loads(atomic.read_text(path) or "")  # never a link, never a FIFO
    except (OSError, ValueError, QMSError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("pid"), int):
        return None
    if alive(state.get("pid", -1)):
        return state
    path.unlink(missing_ok=True)
    return None


def alive(pid: int) -> bool:
    """True if `pid` is a live (non-zombie) qms-mcp process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # not Linux: trust the signal probe
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and (b"qms-mcp" in cmdline or b"qms.server.main" in cmdline)
