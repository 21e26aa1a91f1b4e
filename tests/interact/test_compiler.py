"""The compiler: legacy compatibility, rendering rules, robustness against any content."""

from __future__ import annotations

import re

import pytest
import yaml

from qms.domain.interact import engine
from qms.domain.interact.compiler import compile_document, compile_template
from qms.domain.interact.source import load_source

from .conftest import FIXTURE  # noqa: F401  (documented location of the fixture)

pytestmark = pytest.mark.req("REQ-INT-016")
