"""Version strings ``"N.X"``: major N counts approvals, minor X counts drafts (pure)."""

from __future__ import annotations

import re

from qms.errors import ValidationError

_VERSION_RE = re.compile(r"^(\d{1,4})\.(\d{1,4})\Z")


def parse(version: str) -> tuple[int, int]:
    m = _VERSION_RE.match(version or "")
    if not m:
        raise ValidationError(f"Invalid version {version!r}: expected N.X, e.g. 1.0 or 0.1.")
    return int(m.group(1)), int(m.group(2))


def bump_minor(version: str) -> str:
    major, minor = parse(version)
    return f"{major}.{minor + 1}"


def bump_major(version: str) -> str:
    return f"{parse(version)[0] + 1}.0"


def major(version: str) -> int:
    return parse(version)[0]
