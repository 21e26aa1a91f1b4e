"""Fixtures for the `qms export` tests (helpers in _export_support.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_NAME = "_qms_tests_export_support"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("_export_support.py"))
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
support = sys.modules[_NAME]
build_lifecycle, _missing_tools = support.build_lifecycle, support._missing_tools


@pytest.fixture(scope="session")
def pdf_tools() -> None:
    reason = _missing_tools()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def life(tmp_path_factory, pdf_tools) -> Proc:
    return build_lifecycle(tmp_path_factory.mktemp("export") / "proj")


