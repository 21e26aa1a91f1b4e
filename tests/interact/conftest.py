"""Shared helpers for the interactive-authoring tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from qms.domain.interact.engine import new_source
from qms.domain.interact.template import parse_template

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "legacy-project"
LEGACY_TEMPLATE = FIXTURE / "QMS" / "TEMPLATE" / "TEMPLATE-VR.md"


class Clock:
    """Deterministic time source: every call is one minute later."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture(scope="session")
def legacy_source_text() -> str:
    return (FIXTURE / "QMS" / ".meta" / "VR" / "CR-091-ADD-001-VR-001.source.json").read_text(
        encoding="utf-8")


@pytest.fixture(scope="session")
def legacy_compiled_text() -> str:
    return (FIXTURE / "QMS" / "CR" / "CR-091" / "CR-091-ADD-001-VR-001.md").read_text(
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
    return new_source("CR-001-VR-001", "CR-001", "Login works", vr_template)
