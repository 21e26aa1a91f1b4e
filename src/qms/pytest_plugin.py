"""pytest plugin (entry point ``pytest11``): the ``req`` marker and its JUnit properties.

``@pytest.mark.req("REQ-X-001", ...)`` names the requirements a test verifies. Each ID is
recorded as a ``req`` property of the test, which ``--junitxml`` writes as
``<property name="req" value="REQ-X-001"/>``; ``qms qualify`` traces tests to requirements
through these properties. Sessions that do not use the marker pay one dictionary lookup per
test and nothing else (this module imports nothing but pytest, which is already loaded).
"""

from __future__ import annotations

import pytest

MARKER_HELP = ("req(*ids): requirement IDs this test verifies (recorded as 'req' properties "
               "in --junitxml output for `qms qualify`)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "req" not in item.keywords:
            continue
        recorded = {value for name, value in item.user_properties if name == "req"}
        for mark in item.iter_markers("req"):
            for req_id in mark.args:
                value = str(req_id)
                if value not in recorded:
                    recorded.add(value)
                    item.user_properties.append(("req", value))
