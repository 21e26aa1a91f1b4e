"""Document type registry and ID rules (pure domain)."""

from __future__ import annotations

import pytest

from qms.domain import doctypes
from qms.errors import ValidationError

req = pytest.mark.req


@req("REQ-DOC-001")
@req("REQ-CFG-005")
def test_registry_lists_every_core_type():
    assert doctypes.base_types() == ["SOP", "CR", "INV", "TP", "ER", "VAR", "ADD", "VR",
                                     "TEMPLATE"]


@req("REQ-DOC-001")
@pytest.mark.parametrize("name,executable,folder", [
    ("SOP", False, "SOP"), ("CR", True, "CR"), ("INV", True, "INV"),
    ("TEMPLATE", False, "TEMPLATE"), ("TP", True, ""), ("ER", True, ""), ("VAR", True, ""),
    ("ADD", True, ""), ("VR", True, ""),
])
def test_type_properties(name, executable, folder):
    t = doctypes.doctype(name)
    assert t.executable is executable
    assert t.folder == folder


@req("REQ-DOC-002")
def test_child_parent_rules():
    assert doctypes.doctype("TP").parents == ("CR",)
    assert doctypes.doctype("ER").parents == ("TP",)
    assert set(doctypes.doctype("VAR").parents) == {"CR", "INV", "ADD"}
    assert set(doctypes.doctype("ADD").parents) == {"CR", "INV", "VAR", "ADD"}
    assert set(doctypes.doctype("VR").parents) >= {"CR", "VAR", "ADD"}
    for top in ("SOP", "CR", "INV", "TEMPLATE"):
        assert not doctypes.doctype(top).is_child


@req("REQ-DOC-015")
@req("REQ-DOC-016")
@req("REQ-DOC-018")
def test_parent_state_and_attachment_flags():
    assert doctypes.doctype("ADD").parent_status == "CLOSED"
    assert doctypes.doctype("VR").parent_status == "IN_EXECUTION"
    assert doctypes.doctype("VR").attachment
    assert not any(doctypes.doctype(t).attachment for t in ("CR", "INV", "TP", "ER", "VAR", "ADD"))


@req("REQ-DOC-012")
def test_folder_per_document_types():
    assert doctypes.doctype("CR").folder_per_doc and doctypes.doctype("INV").folder_per_doc
    assert not doctypes.doctype("SOP").folder_per_doc


@req("REQ-DOC-014")
def test_sdlc_types_are_built_on_demand():
    rs = doctypes.doctype("WEB-RS")
    assert rs.singleton and rs.folder == "SDLC-WEB" and not rs.executable
    assert doctypes.doctype("QMS-RTM").folder == "SDLC-QMS"
    with pytest.raises(ValidationError):
        doctypes.doctype("web-XX")
    with pytest.raises(ValidationError):
        doctypes.doctype("NOPE")


@pytest.mark.parametrize("doc_id,kind", [
    ("SOP-001", "SOP"), ("CR-001", "CR"), ("INV-014", "INV"), ("CR-001-TP-001", "TP"),
    ("CR-001-TP-001-ER-002", "ER"), ("CR-056-VAR-003", "VAR"), ("INV-002-VAR-001", "VAR"),
    ("CR-091-ADD-001-VAR-001", "VAR"), ("CR-094-ADD-001", "ADD"), ("CR-097-VR-001", "VR"),
    ("CR-001-VAR-001-VR-002", "VR"), ("TEMPLATE-CR", "TEMPLATE"), ("TEMPLATE-MY_T1", "TEMPLATE"),
    ("SDLC-QMS-RS", "QMS-RS"), ("SDLC-WFE-RTM", "WFE-RTM"), ("CR-1000", "CR"),
])
def test_type_of(doc_id, kind):
    assert doctypes.type_of(doc_id) == kind


@req("REQ-DOC-004")
def test_er_is_not_mistaken_for_tp():
    # the earlier tool classified ER ids as TP (weakness 17)
    assert doctypes.type_of("CR-001-TP-001-ER-001") == "ER"
    assert doctypes.parent_of("CR-001-TP-001-ER-001") == "CR-001-TP-001"


@pytest.mark.parametrize("raw,norm", [
    ("cr-001", "CR-001"), ("  sop-002 ", "SOP-002"), ("template-cr", "TEMPLATE-CR"),
    ("sdlc-qms-rs", "SDLC-QMS-RS"),
])
def test_normalize_id(raw, norm):
    assert doctypes.normalize_id(raw) == norm


@pytest.mark.parametrize("bad", [
    "", "   ", "../../etc", "CR-001/../x", "/etc/passwd", "CR-001/x", "CR-01", "CR-0000001",
    "CR-001\x00", "CR-001\nCR-002", "CR-001 x", "C R-001", "XYZ-001", "CR-001-FOO-001", "CR-001-TP", "SOP-001-VAR-001",
    "TEMPLATE-", "TEMPLATE-../x", "SDLC--RS", "SDLC-QMS-XX", "CR-00١", "ＣＲ-001", "CR-" + "1" * 200,
    "..", ".", "CR-001.md",
])
def test_normalize_rejects_non_ids(bad):
    with pytest.raises(ValidationError):
        doctypes.normalize_id(bad)


def test_normalize_rejects_non_strings():
    with pytest.raises(ValidationError):
        doctypes.normalize_id(None)  # type: ignore[arg-type]


def test_parent_root_folder_number():
    assert doctypes.parent_of("CR-001") is None
    assert doctypes.parent_of("SOP-001") is None
    assert doctypes.parent_of("CR-001-VAR-002") == "CR-001"
    assert doctypes.root_of("CR-001-TP-001-ER-001") == "CR-001"
    assert doctypes.root_of("SOP-003") == "SOP-003"
    assert doctypes.folder_of("CR-001") == "CR/CR-001"
    assert doctypes.folder_of("INV-002-VAR-001") == "INV/INV-002"
    assert doctypes.folder_of("CR-001-TP-001-ER-001") == "CR/CR-001"
    assert doctypes.folder_of("SOP-001") == "SOP"
    assert doctypes.folder_of("TEMPLATE-CR") == "TEMPLATE"
    assert doctypes.folder_of("SDLC-QMS-RS") == "SDLC-QMS"
    assert doctypes.number_of("CR-001-VAR-012") == 12
    assert doctypes.number_of("TEMPLATE-CR") == 0


@req("REQ-DOC-005")
def test_id_formatting():
    assert doctypes.format_root("CR", 7) == "CR-007"
    assert doctypes.format_root("CR", 1234) == "CR-1234"
    assert doctypes.format_child("CR-001", "VAR", 2) == "CR-001-VAR-002"


@req("REQ-LEGACY-001")
@pytest.mark.parametrize("kind", ["TP", "ER", "VAR", "ADD", "VR"])
def test_orphan_child_ids_of_the_earlier_tool(kind):
    doc_id = f"{kind}-001"
    assert doctypes.normalize_id(doc_id.lower()) == doc_id
    assert doctypes.type_of(doc_id) == kind and doctypes.is_orphan(doc_id)
    assert doctypes.folder_of(doc_id) == "CR"          # QMS/CR/VAR-001-draft.md
    assert doctypes.parent_of(doc_id) is None
    assert doctypes.flat_archive_folder(doc_id) is None
    assert not doctypes.is_orphan(f"CR-001-{kind}-001")
    for bad in (f"{kind}-1", f"{kind}-001-VAR-001", f"SOP-001-{kind}-001"):
        with pytest.raises(ValidationError):
            doctypes.normalize_id(bad)


@req("REQ-LEGACY-002")
def test_flat_archive_folder_only_for_documents_of_a_cr_or_inv_folder():
    assert doctypes.flat_archive_folder("CR-028-VAR-001") == "CR"
    assert doctypes.flat_archive_folder("INV-002-VAR-001-ADD-001") == "INV"
    assert doctypes.flat_archive_folder("CR-028") == "CR"
    for doc_id in ("SOP-001", "TEMPLATE-CR", "SDLC-QMS-RS", "VAR-001"):
        assert doctypes.flat_archive_folder(doc_id) is None
