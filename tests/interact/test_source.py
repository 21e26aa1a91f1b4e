"""The source model: JSON shape, append-only entries, no workflow fields."""

from __future__ import annotations

import json

import pytest

from qms.domain.interact.engine import new_source
from qms.domain.interact.source import load_source, source_from_dict
from qms.errors import ValidationError

META_FIELDS = ("status", "responsible_user", "checked_out", "checked_out_date",
               "pending_assignees")


@pytest.mark.req("REQ-INT-006")
def test_new_source_shape(vr_template):
    src = new_source("CR-001-VR-001", "CR-001", "Title", vr_template)
    assert src.to_dict() == {
        "doc_id": "CR-001-VR-001", "template": "VR", "template_version": 5,
        "cursor": "related_eis", "cursor_context": {},
        "metadata": {"parent_doc_id": "CR-001", "vr_id": "CR-001-VR-001", "title": "Title"},
        "responses": {}, "loops": {}, "gates": {}}


@pytest.mark.req("REQ-INT-006")
def test_legacy_source_drops_leaked_meta_fields(legacy_source_text):
    raw = json.loads(legacy_source_text)
    assert all(k in raw for k in META_FIELDS)  # the fixture really is polluted
    src = load_source(legacy_source_text)
    data = json.loads(src.dumps())
    assert not any(k in data for k in META_FIELDS)
    assert data["responses"] == raw["responses"] and data["gates"] == raw["gates"]
    assert data["loops"] == raw["loops"] and data["metadata"] == raw["metadata"]


def test_copy_is_deep(legacy_source_text):
    src = load_source(legacy_source_text)
    other = src.copy()
    other.responses["objective"].append({"value": "x", "author": "a", "timestamp": "t"})
    assert len(src.responses["objective"]) == 1


@pytest.mark.parametrize("data, fragment", [
    ([], "not a JSON object"),
    ({"template": "VR", "cursor": "a"}, "'doc_id' missing"),
    ({"doc_id": "X", "template": "VR", "cursor": "a", "responses": []}, "not an object"),
    ({"doc_id": "X", "template": "VR", "cursor": "a", "responses": {"a": []}}, "not a list"),
    ({"doc_id": "X", "template": "VR", "cursor": "a", "responses": {"a": [{"value": 1}]}},
     "lacks value/author/timestamp"),
])
def test_malformed_source_is_refused(data, fragment):
    with pytest.raises(ValidationError, match=fragment):
        source_from_dict(data)
    with pytest.raises(ValidationError, match="not valid JSON"):
        load_source("{broken")


@pytest.mark.req("REQ-INT-023")
def test_auto_metadata(fresh):
    assert fresh.auto_metadata() == {}
    fresh.responses = {
        "a": [{"value": "1", "author": "bob", "timestamp": "2026-01-03T10:00:00Z"}],
        "b": [{"value": "2", "author": "amy", "timestamp": "2026-01-01T10:00:00Z"},
              {"value": "3", "author": "bob", "timestamp": "2026-01-05T10:00:00Z"}],
    }
    assert fresh.auto_metadata() == {"date": "2026-01-01", "performer": "bob",
                                     "performed_date": "2026-01-05"}
    fresh.metadata["performer"] = "explicit"
    assert "performer" not in fresh.auto_metadata()


def test_performer_tie_goes_to_the_earliest_author(fresh):
    fresh.responses = {
        "a": [{"value": "1", "author": "zed", "timestamp": "2026-01-01T10:00:00Z"}],
        "b": [{"value": "2", "author": "amy", "timestamp": "2026-01-02T10:00:00Z"}],
    }
    assert fresh.auto_metadata()["performer"] == "zed"
