"""pytest plugin (entry point ``pytest11``): the ``req`` marker and its JUnit properties.

``@pytest.mark.req("REQ-X-001", ...)`` names the requirements a test verifies. Each ID is
recorded as a ``req`` property of the test, which ``--junitxml`` writes as
``<property name="req" value="REQ-X-001"/>``; ``qms qualify`` traces tests to requirements
through these properties. Sessions that do not use the marker pay one dictionary lookup per
test and nothing else (this module imports nothing but pytest, which is already loaded).

With ``--junitxml`` the run also records what it ran on, as properties of the test suite:
``qms.commit`` (``HEAD`` of the repository of the folder pytest runs in) and ``qms.dirty``
(``true`` when its working tree had changes outside qms's own data when the session
started). ``qms qualify`` binds the RTM to that commit and refuses a dirty run.
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


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not getattr(config.option, "xmlpath", None):
        return
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is None:  # junitxml not active (e.g. a worker of pytest-xdist)
        return
    ran = _tested(config.invocation_params.dir, config.option.xmlpath)
    if ran is not None:
        xml.add_global_property("qms.commit", ran[0])
        xml.add_global_property("qms.dirty", "true" if ran[1] else "false")


def _tested(folder, xmlpath: str):
    """``(HEAD, dirty)`` of the repository ``folder`` is in, or None outside one."""
    from pathlib import Path

    from qms.errors import QMSError
    from qms.store.git import tested

    prefix = ""
    try:
        from qms.store.project import Project
        from qms.store.git import repository

        prefix = repository(Project.discover(folder))[1]
    except QMSError:
        pass  # no project (or none in git): only the top level's qms data is left out
    try:
        ran = tested(Path(folder), prefix, [Path(folder) / xmlpath])
    except QMSError:
        return None
    return None if ran is None else (ran[1], bool(ran[2]))
