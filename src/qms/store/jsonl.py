"""The store's JSON-lines files (audit trails, the chain): one line as an event, and the
last line of a file read from its end. The one parser every trail reader shares."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qms.store import atomic

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One trail line as an event; None when it is not a JSON object (torn or edited)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def last_line(path: Path, root: Path | None = None) -> bytes | None:
    """The last non-blank line of a file, read from its end (None: no file or no lines).
    A link or a special file planted in its place is refused (atomic.open_regular), never
    followed or waited on."""
    opened = atomic.open_regular(path, root)
    if opened is None:
        return None
    fd, info = opened
    try:
        return last_line_of(fd, info)
    finally:
        os.close(fd)


def last_line_of(fd: int, info: os.stat_result) -> bytes | None:
    """:func:`last_line` of an opened file (``info``: its ``fstat``)."""
    size = info.st_size
    block = 4096
    while True:
        start = max(0, size - block)
        data = os.pread(fd, size - start, start)
        lines = data.split(b"\n")
        if start > 0:
            lines = lines[1:]  # may be a partial line
        full = [line for line in lines if line.strip()]
        if full:
            return full[-1]
        if start == 0:
            return None
        block *= 4
