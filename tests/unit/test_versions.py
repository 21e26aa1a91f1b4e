"""Version strings N.X (pure domain)."""

from __future__ import annotations

import pytest

from qms.domain import versions
from qms.errors import ValidationError

pytestmark = pytest.mark.req("REQ-DOC-006")


@pytest.mark.parametrize("text,parsed", [("0.1", (0, 1)), ("1.0", (1, 0)), ("21.13", (21, 13)),
                                         ("100.0", (100, 0))])
def test_parse(text, parsed):
    assert versions.parse(text) == parsed


@pytest.mark.parametrize("bad", ["", "1", "1.", ".1", "v1.0", "1.0.0", "a.b", "1.0 ", " 1.0",
                                 "-1.0", "1,0", "12345.0", None, "1.0\n", "../1.0"])
def test_parse_rejects(bad):
    with pytest.raises(ValidationError):
        versions.parse(bad)


def test_bump_minor_counts_drafts():
    assert versions.bump_minor("0.1") == "0.2"
    assert versions.bump_minor("1.0") == "1.1"
    assert versions.bump_minor("1.9") == "1.10"


@pytest.mark.req("REQ-WF-006")
def test_bump_major_counts_approvals():
    assert versions.bump_major("0.1") == "1.0"
    assert versions.bump_major("1.3") == "2.0"
    assert versions.bump_major("21.1") == "22.0"


def test_major():
    assert versions.major("0.7") == 0
    assert versions.major("3.2") == 3


@pytest.mark.req("REQ-WF-021")
def test_cr_version_sequence():
    """0.1 -> (pre-approval) 1.0 -> (execution checkout) 1.1 -> (post-approval) 2.0."""
    v = "0.1"
    v = versions.bump_major(v)
    assert v == "1.0"
    v = versions.bump_minor(v)
    assert v == "1.1"
    v = versions.bump_major(v)
    assert v == "2.0"
