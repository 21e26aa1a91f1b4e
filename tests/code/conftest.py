"""Fixtures for code under change control: a governed project in a real git repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from _code_support import governed_project


@pytest.fixture
def gov(tmp_path: Path) -> Path:
    """A qms project at the top of a git repository with system APP (src/app, tests)."""
    return governed_project(tmp_path)
