"""Shared helpers for the interactive-authoring tests."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import vr_in_execution

from qms.domain.interact.engine import new_source
from qms.domain.interact.template import parse_template

# The earlier tool's VR template, one of its sessions and the document it compiled to: copies
# of ../shared/fixtures/legacy-project files (tests/data/legacy-vr/README.md).
LEGACY_VR = Path(__file__).resolve().parents[1] / "data" / "legacy-vr"
VR = "CR-001-VR-001"
LEGACY_TEMPLATE = LEGACY_VR / "TEMPLATE-VR.md"


class Clock:
    """Deterministic time source: every call is one minute later."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture(scope="session")
def legacy_source_text() -> str:
    return (LEGACY_VR / "CR-091-ADD-001-VR-001.source.json").read_text(
        encoding="utf-8")


@pytest.fixture(scope="session")
def legacy_compiled_text() -> str:
    return (LEGACY_VR / "CR-091-ADD-001-VR-001.md").read_text(
        encoding="utf-8")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def vr_template_text() -> str:
    return LEGACY_TEMPLATE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def vr_template(vr_template_text):
    return parse_template(vr_template_text)


@pytest.fixture
def fresh(vr_template):
    return new_source(VR, "CR-001", "Login works", vr_template)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


def make_repo(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "config", "user.email", "qms@example.com")
    git(root, "config", "user.name", "QMS Test")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "baseline")


@pytest.fixture
def vr(project: Path) -> Path:
    """A project whose CR-001 is IN_EXECUTION with a new VR checked out to claude."""
    vr_in_execution(project)
    return project


