"""The CLI tests' runner (``q``, ``make_q``) for the integrity tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "_qms_tests_cli_conftest"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parents[1] / "cli" / "conftest.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
_cli = sys.modules[_NAME]

Q = _cli.Q
q = _cli.q
make_q = _cli.make_q
digest = _cli.digest
