"""Turning a controlled template into a new document (pure domain)."""

from __future__ import annotations

from importlib import resources

import pytest

from qms.domain import templates

req = pytest.mark.req

TEMPLATE = """---
title: 'TEMPLATE-CR: Change Record'
revision_summary: seed
---

<!--
TEMPLATE DOCUMENT NOTICE
This is a template. --- not frontmatter ---
-->

---
title: '{{TITLE}}'
revision_summary: 'Initial draft'
---

<!-- usage guide -->

# CR-XXX: {{TITLE}}

## 1. Purpose

---

Horizontal rules stay. CR-XXX again.
"""


@req("REQ-TEMPLATE-001")
@req("REQ-TEMPLATE-003")
def test_instantiate_substitutes_title_and_id():
    body = templates.instantiate(TEMPLATE, "CR-042", "CR", "Fix the thing")
    assert "# CR-042: Fix the thing" in body
    assert "CR-042 again." in body
    assert "{{TITLE}}" not in body and "CR-XXX" not in body
    assert "TEMPLATE DOCUMENT NOTICE" not in body
    assert "\n---\n" in body  # horizontal rule in the body survives
    assert not body.lstrip().startswith("---")  # no frontmatter: the caller adds it


def test_body_of_handles_bom_and_no_notice():
    text = "\ufeff---\ntitle: T\n---\n---\ntitle: x\n---\n# Body {{TITLE}}\n"
    assert templates.body_of(text) == "# Body {{TITLE}}\n"


@pytest.mark.parametrize("broken", [
    "",
    "no frontmatter at all",
    "---\ntitle: T\n---\n# only a template header, no example frontmatter\n",
    "---\ntitle: T\n---\n---\ntitle: x\n---\n   \n",   # empty body
    "---\ntitle: unterminated\n",
])
@req("REQ-TEMPLATE-005")
def test_unusable_template_falls_back(broken):
    assert templates.body_of(broken) is None
    body = templates.instantiate(broken, "SOP-009", "SOP", "Title")
    assert body == templates.fallback("SOP-009", "Title")


@req("REQ-TEMPLATE-005")
def test_missing_template_falls_back():
    body = templates.instantiate(None, "TEMPLATE-X", "TEMPLATE", "My template")
    assert "# TEMPLATE-X: My template" in body
    for heading in ("## 1. Purpose", "## 2. Scope", "**END OF DOCUMENT**"):
        assert heading in body


def test_only_own_type_placeholder_is_replaced():
    text = "---\ntitle: T\n---\n---\ntitle: x\n---\nVAR-XXX and CR-XXX\n"
    assert templates.instantiate(text, "CR-001-VAR-001", "VAR", "t") == "CR-001-VAR-001 and CR-XXX\n"


@req("REQ-TEMPLATE-002")
@pytest.mark.parametrize("name", ["ADD", "CR", "ER", "INV", "SOP", "TP", "VAR"])
def test_every_seed_template_is_usable(name):
    text = (resources.files("qms") / "resources" / "templates" / f"TEMPLATE-{name}.md").read_text()
    body = templates.body_of(text)
    assert body is not None, f"TEMPLATE-{name} has no usable body"
    assert "TEMPLATE DOCUMENT NOTICE" not in body
    out = templates.instantiate(text, f"{name}-777", name, "Seed title")
    assert "{{TITLE}}" not in out
    # (TEMPLATE-VR is interactive: its body is compiled by the interact engine)
