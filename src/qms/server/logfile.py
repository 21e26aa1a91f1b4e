"""Size-based rotation of the background server's log: ``.qms/mcp.log`` plus a few old ones.

The detached server's stdout and stderr go into a pipe (file descriptors 1 and 2, so
everything lands there: logging, warnings, tracebacks, C-level writes); a daemon thread
copies the pipe into ``mcp.log``. When the next chunk would take the file past
``max_bytes``, ``mcp.log.{n}`` becomes ``mcp.log.{n+1}`` (the oldest is dropped),
``mcp.log`` becomes ``mcp.log.1`` and a fresh ``mcp.log`` is started. Files are opened
without following links.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

ENV = "QMS_MCP_LOG"                  # set by `qms-mcp start --background`: the log to write
ENV_MAX_BYTES = "QMS_MCP_LOG_MAX_BYTES"
MAX_BYTES = 5 * 1024 * 1024
KEEP = 3                             # rotated files kept besides the live one

_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK
          | getattr(os, "O_CLOEXEC", 0))


def open_log(path: Path) -> int:
    """An appending descriptor on ``path``: never through a link, never a FIFO."""
    import stat

    fd = os.open(path, _FLAGS, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return fd


def max_bytes() -> int:
    try:
        return max(int(os.environ.get(ENV_MAX_BYTES, MAX_BYTES)), 1024)
    except ValueError:
        return MAX_BYTES


class RotatingLog:
    """Append bytes to ``path``, rotating by size."""

    def __init__(self, path: Path, limit: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path, self.limit, self.keep = path, limit, keep
        self.fd = open_log(path)
        self.size = os.fstat(self.fd).st_size

    def write(self, data: bytes) -> None:
        """Append ``data``; a file is cut at a line end before it would pass the limit."""
        while data:
            room = self.limit - self.size
            if len(data) <= room:
                head, data = data, b""
            else:
                cut = data.rfind(b"\n", 0, room) + 1
                if not cut and self.size:  # no line fits: start a new file first
                    self.rotate()
                    continue
                cut = cut or room
                head, data = data[:cut], data[cut:]
            view = memoryview(head)
            while view:
                view = view[os.write(self.fd, view):]
            self.size += len(head)
            if data:
                self.rotate()

    def rotate(self) -> None:
        os.close(self.fd)
        rotate_files(self.path, self.keep)
        self.fd = open_log(self.path)
        self.size = 0

    def close(self) -> None:
        os.close(self.fd)


def rotate_files(path: Path, keep: int = KEEP) -> None:
    """mcp.log -> mcp.log.1 -> ... -> mcp.log.{keep} (dropped beyond that)."""
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if os.path.lexists(older):
            os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
    if os.path.lexists(path):
        os.replace(path, path.with_name(f"{path.name}.1"))


def rotate_if_large(path: Path, limit: int | None = None, keep: int = KEEP) -> None:
    """Before a (re)start: start a fresh log if the current one is already over the limit."""
    try:
        size = os.lstat(path).st_size
    except FileNotFoundError:
        return
    if size >= (limit or max_bytes()):
        rotate_files(path, keep)


def capture(path: Path, limit: int | None = None, keep: int = KEEP) -> threading.Thread:
    """Send this process's stdout and stderr into ``path`` with rotation (a daemon thread)."""
    import sys

    log = RotatingLog(path, limit or max_bytes(), keep)
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            try:
                log.write(chunk)
            except OSError:
                pass  # a full disk must not stop the server; the chunk is lost
        log.close()

    thread = threading.Thread(target=pump, name="qms-mcp-log", daemon=True)
    thread.start()

    def drain() -> None:  # at exit: end the pipe so the last lines reach the file
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        thread.join(timeout=2)

    import atexit

    atexit.register(drain)
    return thread
